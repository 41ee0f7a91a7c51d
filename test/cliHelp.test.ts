/**
 * `--help` of every CLI (render, explain, demo, bench, forkctl and each forkctl command) lists every
 * flag of its option table, each with its default, and nothing else: help is generated from the
 * same table `util.parseArgs` parses, and this keeps it so. Every help line fits 100 columns.
 *
 * And every CLI, run as a process the way its npm script (or `npx forkctl`) runs it: `--help` exits
 * 0 with the usage on stdout and nothing on stderr; an unknown flag exits 2 with one line on stderr
 * and nothing on stdout.
 */
import { spawn } from "child_process";
import * as path from "path";
import { FlagTable, flagSyntax } from "../render/args";
import { FLAGS as BENCH_FLAGS } from "../bench/run";
import { FLAGS as RENDER_FLAGS, main as renderMain } from "../render/cli";
import { FLAGS as EXPLAIN_FLAGS, main as explainMain } from "../render/explainCli";
import { FLAGS as DEMO_FLAGS, runDemo } from "../render/demo";
import { commandFlags, COMMANDS, FLAGS as FORKCTL_FLAGS, main as forkctlMain } from "../bin/forkctl/cli";

async function capture(run: (io: { stdout: (t: string) => void; stderr: (t: string) => void }) => number | Promise<number>) {
  let stdout = "";
  let stderr = "";
  const code = await run({ stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

const noDeps = () => {
  throw new Error("--help must not build the backend");
};

const helps: [string, () => Promise<{ code: number; stdout: string; stderr: string }>, FlagTable, readonly string[]][] = [
  ["render --help", () => capture((io) => renderMain(["--help"], io)), RENDER_FLAGS, Object.keys(RENDER_FLAGS)],
  ["explain --help", () => capture((io) => explainMain(["--help"], io)), EXPLAIN_FLAGS, Object.keys(EXPLAIN_FLAGS)],
  ["demo --help", () => capture((io) => runDemo({ argv: ["--help"], ...io })), DEMO_FLAGS, Object.keys(DEMO_FLAGS)],
  ["bench --help", () => npmScript("bench", "--help") as Promise<{ code: number; stdout: string; stderr: string }>, BENCH_FLAGS, Object.keys(BENCH_FLAGS)],
  ["forkctl --help", () => capture((io) => forkctlMain(["--help"], io, noDeps, {})), FORKCTL_FLAGS, Object.keys(FORKCTL_FLAGS)],
  ...(Object.keys(COMMANDS) as (keyof typeof COMMANDS)[]).map(
    (name) =>
      [`forkctl ${name} --help`, () => capture((io) => forkctlMain([name, "--help"], io, noDeps, {})), commandFlags(name), Object.keys(commandFlags(name))] as (typeof helps)[number],
  ),
];

const ROOT = path.join(__dirname, "..");
const SCRIPTS: Record<string, string> = require("../package.json").scripts;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `args` (after this Node) in the project root; resolves when the process has exited. */
function runProcess(args: readonly string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The command line of npm script `name` (`node scripts/run.js …`), with `args` after it, run by this Node. */
function npmScript(name: string, ...args: string[]): Promise<Run> {
  const [node, ...rest] = SCRIPTS[name].split(" ");
  if (node !== "node") throw new Error(`npm script ${name} does not start with node: ${SCRIPTS[name]}`);
  return runProcess([...rest, ...args]);
}

/** Each CLI as users start it: the name its messages start with, and how to run it with arguments. */
const CLIS: [string, string, (...args: string[]) => Promise<Run>][] = [
  ["forkctl", "forkctl", (...args) => runProcess(["bin/forkctl.js", ...args])],
  ["forkctl up", "forkctl", (...args) => runProcess(["bin/forkctl.js", "up", ...args])],
  ["npm run render", "render", (...args) => npmScript("render", ...args)],
  ["npm run explain", "explain", (...args) => npmScript("explain", ...args)],
  ["npm run demo", "demo", (...args) => npmScript("demo", ...args)],
  ["npm run bench", "bench", (...args) => npmScript("bench", ...args)],
  ["npm run bench:startup", "bench:startup", (...args) => npmScript("bench:startup", ...args)],
];

describe.each(CLIS)("%s as a process", (_name, prefix, run) => {
  let help: Run;
  let bogus: Run;
  beforeAll(async () => {
    [help, bogus] = await Promise.all([run("--help"), run("--bogus")]);
  }, 120_000);

  it("--help: exits 0 and prints the usage on stdout only", () => {
    expect([help.code, help.stderr]).toEqual([0, ""]);
    expect(help.stdout).toMatch(/^usage: /);
  });

  it("--bogus: exits 2 with one line on stderr naming the flag, and nothing on stdout", () => {
    expect([bogus.code, bogus.stdout]).toEqual([2, ""]);
    expect(bogus.stderr).toMatch(new RegExp(`^${prefix}: --bogus: [^\n]*\n$`));
  });
});

describe("forkctl: an unknown command as a process", () => {
  it.each([[["bogus", "--help"]], [["bogus"]]])("%j exits 2 with one line, not the general help", async (args) => {
    const r = await runProcess(["bin/forkctl.js", ...args]);
    expect([r.code, r.stdout]).toEqual([2, ""]);
    expect(r.stderr).toMatch(/^forkctl: command: "bogus" is not a forkctl command; [^\n]*\n$/);
  }, 120_000);
});

/** Help text with wrapped lines joined, so a default split over two lines is still found. */
const unwrapped = (text: string) => text.replace(/\n {4,}/g, " ");

describe.each(helps)("%s", (_name, run, table, names) => {
  let help: { code: number; stdout: string; stderr: string };
  beforeAll(async () => {
    help = await run();
  }, 120_000);

  it("exits 0 and prints to stdout only", () => {
    expect([help.code, help.stderr]).toEqual([0, ""]);
  });

  it.each(names)("lists --%s with its default", (name) => {
    const flag = table[name];
    const text = unwrapped(help.stdout);
    expect(text).toContain(`  ${flagSyntax(name, flag)} `);
    expect(text).toContain(flag.ifOmitted === "required" ? `${flag.help} (required)` : `${flag.help} (default: ${flag.ifOmitted})`);
  });

  it("names no flag its table does not have", () => {
    const mentioned = new Set([...help.stdout.matchAll(/(?<![\w-])--([a-z][a-z-]*)/g)].map((m) => m[1]));
    expect([...mentioned].filter((f) => !(f in table))).toEqual([]);
  });

  it("fits every line in 100 columns", () => {
    expect(help.stdout.split("\n").filter((l) => [...l].length > 100)).toEqual([]);
  });
});
