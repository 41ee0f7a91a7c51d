/**
 * `npm run demo`: the first thing a newcomer runs. Renders the sample base stack and two example
 * forks that overlap on one service (examples/: dev, alice, bob) offline into a temp directory,
 * and prints what each fork gets (URLs), what it copied, what it costs against copying the whole
 * environment, and one request per fork followed through the mesh (render/explain.ts).
 *
 * Needs no network, cloud, cluster or Pulumi CLI. Exits 1 with one line when something is missing.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DEFAULTS } from "../components/config";
import { oneLine } from "../components/errors";
import { explainRequest, formatExplanation } from "./explain";
import { stalledLine } from "./cli";
import { renderStacks, RenderError, writeRender } from "./render";
import { buildDemoReport, formatDemoReport } from "./report";

/** The stacks the demo renders, in order: the base, then two forks that both copy `api`. */
export const DEMO_STACKS = ["dev", "alice", "bob"] as const;

/** The chain a request walks after the entry service (examples/README.md: frontend → api → catalog → inventory). */
export const DEMO_CALLS = ["api", "catalog", "inventory"] as const;

export interface DemoOptions {
  /** The folder with the example stack configs and `cluster/shop.yaml`. */
  examplesDir?: string;
  /** Where the render is written; default a fresh temp directory. */
  outDir?: string;
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
    const outDir = opts.outDir ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), "forkstack-demo-")), "render");
    writeRender(outDir, render);

    const objects = render.cluster.all();
    const headerName = String(render.results[0]?.outputs.headerName ?? DEFAULTS.headerName);
    const report = buildDemoReport(render, (_forkId, host) =>
      formatExplanation(explainRequest(objects, { host, calls: [...DEMO_CALLS] }, { headerName }), { headerName }),
    );
    opts.stdout(formatDemoReport(report));
    const firstFork = report.forks[0];
    opts.stdout(
      `\nThe render is in ${outDir} (cluster.yaml, resources.json, outputs.json). Follow another request:\n` +
        `  npm run explain -- --render ${outDir} --host ${firstFork ? new URL(firstFork.urls[0] ?? "https://shop.dev.example.com/").host : "shop.dev.example.com"} --calls ${DEMO_CALLS.join(",")}\n`,
    );
    return 0;
  } catch (err) {
    opts.stderr(`demo: ${err instanceof RenderError ? err.message : `internal error: ${oneLine(err)}`}\n`);
    return 1;
  }
}

if (require.main === module) {
  // A program awaiting an output that never resolves leaves node with nothing to do; fail in one line.
  process.once("beforeExit", () => {
    process.stderr.write(stalledLine(currentStack).replace(/^render: /, "demo: "));
    process.exit(1);
  });
  runDemo({ stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }).then((code) => {
    // Exit explicitly: the SDK's mock runtime can leave handles open that would keep node alive.
    process.exit(code);
  });
}
