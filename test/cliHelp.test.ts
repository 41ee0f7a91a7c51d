/**
 * `--help` of every CLI (render, explain, demo, forkctl and each forkctl command) lists every flag
 * of its option table, each with its default, and nothing else: help is generated from the same
 * table `util.parseArgs` parses, and this keeps it so. Every help line fits 100 columns.
 */
import { FlagTable, flagSyntax } from "../render/args";
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
  ["forkctl --help", () => capture((io) => forkctlMain(["--help"], io, noDeps, {})), FORKCTL_FLAGS, Object.keys(FORKCTL_FLAGS)],
  ...(Object.keys(COMMANDS) as (keyof typeof COMMANDS)[]).map(
    (name) =>
      [`forkctl ${name} --help`, () => capture((io) => forkctlMain([name, "--help"], io, noDeps, {})), commandFlags(name), Object.keys(commandFlags(name))] as (typeof helps)[number],
  ),
];

/** Help text with wrapped lines joined, so a default split over two lines is still found. */
const unwrapped = (text: string) => text.replace(/\n {4,}/g, " ");

describe.each(helps)("%s", (_name, run, table, names) => {
  let help: { code: number; stdout: string; stderr: string };
  beforeAll(async () => {
    help = await run();
  });

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
