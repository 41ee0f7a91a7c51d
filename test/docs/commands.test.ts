/**
 * The commands README.md and docs/ show run as written (issue 26): every line of every ```sh block
 * that needs no cloud, cluster or Pulumi CLI is executed from the repository root (the render's
 * /tmp paths moved into a temporary folder), and must exit 0 (`diff` 0 or 1: showing a difference
 * is its job). Every other command is in NOT_RUN with the reason, so a new command in the docs is
 * either run here or said not to be.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..", "..");
const DOCS = ["README.md", ...fs.readdirSync(path.join(ROOT, "docs")).filter((f) => f.endsWith(".md")).sort().map((f) => `docs/${f}`)];

/** Commands not run here, by their first words, and why. */
const NOT_RUN: Array<[RegExp, string]> = [
  [/^npm ci\b/, "installs dependencies: .ci/run runs it on a fresh clone"],
  [/^npm test\b/, "this suite itself: .ci/run runs it"],
  [/^npm run e2e\b/, "needs Go and builds the e2e tier: .ci/run runs it"],
  [/^npx forkctl\b/, "needs the Pulumi CLI and a backend: forkctl's e2e test runs it"],
  [/^(kubectl|k3d|pulumi|curl|export|aws)\b/, "needs a cluster, a cloud or the Pulumi CLI"],
];

/** Every command line of every sh block: continuation lines joined, comments and blank lines dropped. */
function commands(): Array<{ file: string; line: string }> {
  return DOCS.flatMap((file) => {
    const text = fs.readFileSync(path.join(ROOT, file), "utf8");
    return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) =>
      m[1]
        .replace(/\\\n\s*/g, " ")
        .split("\n")
        .map((l) => l.replace(/\s+#.*$/, "").trim())
        .filter((l) => l !== "" && !l.startsWith("#"))
        // `npm ci && npm run demo`: each part on its own (the install is not run, the demo is).
        .flatMap((l) => l.split(/\s*&&\s*/))
        .map((line) => ({ file, line })),
    );
  });
}

const all = commands();
const runnable = all.filter(({ line }) => !NOT_RUN.some(([re]) => re.test(line)));

describe("the commands of README.md and docs/", () => {
  it("are each run below or said not to be", () => {
    expect(runnable.length).toBeGreaterThan(3);
    const unknown = runnable.filter(({ line }) => !/^(npm run (demo|render|explain)\b|diff\b)/.test(line)).map(({ file, line }) => `${file}: ${line}`);
    expect(unknown).toEqual([]);
  });

  it("run as written, in order, from the repository root", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "forkstack-docs-"));
    try {
      const failed: string[] = [];
      const ran: string[] = [];
      for (const { file, line } of runnable) {
        if (/\[|\.\.\./.test(line)) continue; // a synopsis ([--flag], NAME...), not a command
        ran.push(line);
        const cmd = line.replace(/\/tmp\//g, `${tmp}/`);
        const res = spawnSync("bash", ["-c", cmd], { cwd: ROOT, encoding: "utf8", timeout: 120_000, env: { ...process.env, FORCE_COLOR: "0" } });
        const ok = res.status === 0 || (line.startsWith("diff ") && res.status === 1);
        if (!ok) failed.push(`${file}: ${line}: exit ${res.status}: ${(res.stderr || res.stdout).trim().split("\n").slice(-2).join(" ")}`);
      }
      expect(failed).toEqual([]);
      expect(ran).toEqual(expect.arrayContaining(["npm run demo", expect.stringMatching(/^npm run render -- /), expect.stringMatching(/^npm run explain -- /), expect.stringMatching(/^diff /)]));
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }, 300_000);
});
