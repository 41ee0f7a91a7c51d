/**
 * `npm run demo` as a newcomer runs it, in-process (runDemo is what render/demo.ts runs as a
 * process): the real examples/ render offline with exit code 0, and a missing example file fails
 * in one line.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { demoInputs, runDemo } from "../../render/demo";

const ROOT = path.resolve(__dirname, "../..");

describe("demo: missing examples", () => {
  it("fails with one line naming the first missing example file", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "forkstack-demo-examples-"));
    fs.copyFileSync(path.join(ROOT, "examples/Pulumi.dev.yaml"), path.join(dir, "Pulumi.dev.yaml"));
    const err: string[] = [];
    const code = await runDemo({ examplesDir: dir, stdout: () => undefined, stderr: (t) => err.push(t) });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(code).toBe(1);
    expect(err).toEqual([`demo: ${path.join(dir, "Pulumi.alice.yaml")} is missing; the demo renders the example stacks in ${dir} (restore it from git)\n`]);
  });

  it("reads the base, two forks and the cluster seed", () => {
    expect(demoInputs()).toEqual(["Pulumi.dev.yaml", "Pulumi.alice.yaml", "Pulumi.bob.yaml", "cluster/shop.yaml"]);
  });
});

// Renders the real program (index.ts → components/base.ts, components/forkProgram.ts) on examples/.
describe("demo: the examples", () => {
  let run: { code: number | null; stdout: string; stderr: string };

  // In-process (render/demo.ts `runDemo`, what `npm run demo` runs): no ts-node start of its own.
  beforeAll(async () => {
    const out: string[] = [];
    const err: string[] = [];
    const now = process.env.FORKSTACK_NOW;
    delete process.env.FORKSTACK_NOW;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "forkstack-demo-test-"));
    try {
      const code = await runDemo({ stdout: (t) => void out.push(t), stderr: (t) => void err.push(t), outDir: path.join(dir, "render") });
      run = { code, stdout: out.join(""), stderr: err.join("") };
    } finally {
      if (now !== undefined) process.env.FORKSTACK_NOW = now;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it("exits 0", () => {
    expect({ code: run.code, stderr: run.stderr.split("\n").filter((l) => !l.startsWith("rendering stack ")) }).toEqual({ code: 0, stderr: [""] });
  });

  it("prints both forks' URLs", () => {
    expect(run.stdout).toContain("  URL:     https://alice.shop.dev.example.com/\n");
    expect(run.stdout).toContain("  URL:     https://bob.shop.dev.example.com/\n");
  });

  it("says what each fork copied", () => {
    expect(run.stdout).toContain("  copied:  api.shop → api-alice.shop (registry.example.com/shop/api:alice-1)\n");
    expect(run.stdout).toMatch(/ {2}copied: {2}api\.shop → api-bob\.shop \(registry\.example\.com\/shop\/api:bob-7\); catalog\.shop → catalog-bob\.shop/);
  });

  it("prices the two forks against a full copy per fork", () => {
    // The shop runs 6 pods (catalog scaled to 2 by its HPA); alice copies 1 pod, bob 2.
    expect(run.stdout).toContain("2 forks cost 3 pods on top of the shared 6; copying the environment per fork would cost 12 pods.\n");
  });

  it("follows one request per fork to the fork's copy of api", () => {
    expect(run.stdout).toMatch(/A request to https:\/\/alice\.shop\.dev\.example\.com\/:\n(.*\n)*.*api-alice.*alice/);
    expect(run.stdout).toMatch(/A request to https:\/\/bob\.shop\.dev\.example\.com\/:\n(.*\n)*.*catalog-bob.*bob/);
  });
});
