/**
 * `npm run render -- [--config-dir DIR] [--cluster FILE]... --stack NAME [--stack NAME]... --out DIR [--json] [--now ISO]`
 *
 * Thin: parses arguments (node:util parseArgs, strict), calls render.ts, prints progress on stderr
 * and a summary on stdout (or JSON with --json). Any mistake ends with exit code 1 and one line
 * `render: …` on stderr, and nothing written.
 */
import * as path from "path";
import { parseArgs } from "util";
import { ConfigError, oneLine } from "../components/errors";
import { argsErrorMessage } from "./args";
import { formatRenderSummary } from "./report";
import { checkOutDir, renderStacks, RenderError, summarize, writeRender } from "./render";

export const USAGE = `usage: npm run render -- [--config-dir DIR] [--cluster FILE]... --stack NAME [--stack NAME]... --out DIR [--json] [--now ISO]

  --config-dir DIR  folder of Pulumi.<stack>.yaml files (default: the project root)
  --cluster FILE    YAML of objects the cluster already holds (repeatable)
  --stack NAME      a stack to render, in order: the base before its forks (repeatable)
  --out DIR         where cluster.yaml, resources.json and outputs.json are written
  --json            print the summary as JSON
  --now ISO         the instant the stacks see as now (default FORKSTACK_NOW, else 2026-01-01T00:00:00Z)`;

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const OPTIONS = {
  "config-dir": { type: "string" },
  cluster: { type: "string", multiple: true },
  stack: { type: "string", multiple: true },
  out: { type: "string" },
  json: { type: "boolean" },
  now: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** parseArgs' messages, as the one-line field/value/problem/fix form. */
const ARGS_HELP = {
  flags: "--config-dir, --cluster, --stack, --out, --json or --now",
  positionalFix: "name stacks with --stack NAME",
  help: "see npm run render -- --help",
};

/** The stack being rendered, for the message when the program never finishes (see below). */
let currentStack: string | undefined;

/** Runs the CLI; resolves to the exit code. Never throws. */
export async function main(argv: readonly string[], io: Io, projectRoot = path.resolve(__dirname, "..")): Promise<number> {
  try {
    let values;
    try {
      ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }));
    } catch (err) {
      throw new RenderError(argsErrorMessage(err, ARGS_HELP));
    }
    if (values.help) {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    if (values.out === undefined || values.out === "") {
      throw new RenderError(new ConfigError("--out", values.out, "is required", "name the directory to write the render to, e.g. --out render-out").message);
    }
    checkOutDir(values.out);
    const stacks = values.stack ?? [];
    const render = await renderStacks({
      stacks,
      configDir: values["config-dir"] ?? projectRoot,
      clusterFiles: values.cluster ?? [],
      now: values.now,
      onProgress: (stack, i, total) => {
        currentStack = stack;
        io.stderr(`rendering stack ${stack} (${i + 1}/${total})…\n`);
      },
      onWarning: (line) => io.stderr(`warning: ${line}\n`),
    });
    writeRender(values.out, render);
    const summary = summarize(render, values.out);
    io.stdout(values.json ? `${JSON.stringify(summary, null, 2)}\n` : formatRenderSummary(summary));
    return 0;
  } catch (err) {
    io.stderr(`render: ${err instanceof RenderError ? err.message : `internal error: ${oneLine(err)}`}\n`);
    if (!(err instanceof RenderError) && process.env.FORKSTACK_DEBUG) io.stderr(`${(err as Error).stack}\n`);
    return 1;
  }
}

/** One line for a program that waits on a value nothing will ever resolve (node then runs out of work). */
export function stalledLine(stack: string | undefined): string {
  return `render: ${stack ? `stack ${stack}: ` : ""}the program stopped before it finished (an output it awaits never resolves); this is a bug in the program, rerun with PULUMI_DEBUG_PROMISE_LEAKS=1 to see where\n`;
}

if (require.main === module) {
  // Under mocks, a program awaiting an output that never resolves leaves node with nothing to do:
  // it would exit without a word. Say so in one line and fail instead.
  process.once("beforeExit", () => {
    process.stderr.write(stalledLine(currentStack));
    process.exit(1);
  });
  main(process.argv.slice(2), { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }).then((code) => {
    // Exit explicitly: the SDK's mock runtime can leave handles open that would keep node alive.
    process.exit(code);
  });
}
