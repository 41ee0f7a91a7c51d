/**
 * `npm run demo`: the first thing a newcomer runs. Renders the sample base stack and two example
 * forks that overlap on one service (examples/: dev, alice, bob) offline, in memory, and prints
 * what each fork gets (URLs), what it copied, what it costs against copying the whole
 * environment, and one request per fork followed through the mesh (render/explain.ts).
 *
 * Needs no network, cloud, cluster or Pulumi CLI, and leaves no file behind: the render is written
 * only where `--out DIR` says (to follow other requests through it with `npm run explain`). Every
 * line fits DEMO_WIDTH columns. Exits 1 with one line when something is missing, 2 when the
 * arguments are wrong.
 */
import * as fs from "fs";
import * as path from "path";
import { DEFAULTS } from "../components/config";
import { ConfigError, oneLine } from "../components/errors";
import { flagPhrase, FlagTable, formatFlags, HELP_FLAG, parseFlags } from "./args";
import { explainRequest, formatExplanation } from "./explain";
import { stalledLine } from "./cli";
import { checkOutDir, renderStacks, RenderError, writeRender } from "./render";
import { buildDemoReport, DEMO_WIDTH, formatDemoReport } from "./report";

/** The stacks the demo renders, in order: the base, then two forks that both copy `api`. */
export const DEMO_STACKS = ["dev", "alice", "bob"] as const;

/** The chain a request walks after the entry service (examples/README.md: frontend → api → catalog → inventory). */
export const DEMO_CALLS = ["api", "catalog", "inventory"] as const;

/** The demo's flags: what parseArgs parses, what --help prints, what README's table is checked against. */
export const FLAGS = {
  out: { type: "string", arg: "DIR", ifOmitted: "nothing is written", help: "also write the render there, to follow other requests with npm run explain" },
  help: HELP_FLAG,
} as const satisfies FlagTable;

export const USAGE = `usage: npm run demo [-- --out DIR]

${formatFlags(FLAGS)}

exit code: 0 done, 1 anything went wrong, 2 the arguments are wrong (one line demo: …)`;

/** Wrong arguments (an unknown flag, a positional): exit code 2. */
class ArgsError extends RenderError {}

const ARGS_HELP = { flags: flagPhrase(FLAGS), positionalFix: "the demo takes no arguments", help: "see npm run demo -- --help" };

export interface DemoOptions {
  /** The folder with the example stack configs and `cluster/shop.yaml`. */
  examplesDir?: string;
  /** The command-line arguments (see FLAGS). */
  argv?: readonly string[];
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** The files the demo reads, relative to the examples folder. */
export function demoInputs(): string[] {
  return [...DEMO_STACKS.map((s) => `Pulumi.${s}.yaml`), "cluster/shop.yaml"];
}

/** The stack being rendered, for the message when the program never finishes. */
let currentStack: string | undefined;

/** Runs the demo; resolves to the exit code. Never throws. */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const examplesDir = opts.examplesDir ?? path.resolve(__dirname, "../examples");
  try {
    const values = parseFlags(opts.argv ?? [], FLAGS, ARGS_HELP, (message) => new ArgsError(message));
    if (values.help) {
      opts.stdout(`${USAGE}\n`);
      return 0;
    }
    const outDir = values.out;
    if (outDir === "") throw new ArgsError(new ConfigError("--out", outDir, "is empty", "name a folder, e.g. --out render-out").message);
    if (outDir !== undefined) checkOutDir(outDir);
    const missing = demoInputs().filter((f) => !fs.existsSync(path.join(examplesDir, f)));
    if (missing.length > 0) {
      throw new RenderError(`${path.join(examplesDir, missing[0])} is missing; the demo renders the example stacks in ${examplesDir} (restore it from git)`);
    }
    const render = await renderStacks({
      stacks: DEMO_STACKS,
      configDir: examplesDir,
      clusterFiles: [path.join(examplesDir, "cluster/shop.yaml")],
      onProgress: (stack, i, total) => {
        currentStack = stack;
        opts.stderr(`rendering stack ${stack} (${i + 1}/${total})…\n`);
      },
      onWarning: (line) => opts.stderr(`warning: ${line}\n`),
    });
    if (outDir !== undefined) writeRender(outDir, render);

    const objects = render.cluster.all();
    const headerName = String(render.results[0]?.outputs.headerName ?? DEFAULTS.headerName);
    // The explained requests are indented by two under their heading.
    const report = buildDemoReport(render, (_forkId, host) =>
      formatExplanation(explainRequest(objects, { host, calls: [...DEMO_CALLS] }, { headerName }), { headerName, width: DEMO_WIDTH - 2 }),
    );
    opts.stdout(formatDemoReport(report));
    const firstUrl = report.forks[0]?.urls[0];
    const host = firstUrl ? new URL(firstUrl).host : "shop.dev.example.com";
    const dir = outDir ?? "render-out";
    const explain = `  npm run explain -- --render ${dir} \\\n      --host ${host} --calls ${DEMO_CALLS.join(",")}`;
    opts.stdout(
      outDir !== undefined
        ? `\nThe render (cluster.yaml, resources.json, outputs.json) is in\n  ${outDir}\nFollow another request through it:\n${explain}\n`
        : `\nNothing was written. To follow other requests, keep the render (render-out/ is gitignored):\n` +
            `  npm run demo -- --out render-out\n${explain}\n`,
    );
    return 0;
  } catch (err) {
    opts.stderr(`demo: ${err instanceof RenderError ? err.message : `internal error: ${oneLine(err)}`}\n`);
    return err instanceof ArgsError ? 2 : 1;
  }
}

if (require.main === module) {
  // A program awaiting an output that never resolves leaves node with nothing to do; fail in one line.
  process.once("beforeExit", () => {
    process.stderr.write(stalledLine(currentStack).replace(/^render: /, "demo: "));
    process.exit(1);
  });
  runDemo({ argv: process.argv.slice(2), stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }).then((code) => {
    // Exit explicitly: the SDK's mock runtime can leave handles open that would keep node alive.
    process.exit(code);
  });
}
