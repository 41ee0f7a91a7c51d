/**
 * `npm run render -- [--config-dir DIR] [--cluster FILE]... --stack NAME [--stack NAME]... --out DIR [--json] [--now ISO]`
 *
 * Thin: parses arguments (node:util parseArgs, strict), calls render.ts, prints progress on stderr
 * and a summary on stdout (or JSON with --json). Any mistake ends with one line `render: …` on
 * stderr and nothing written: exit code 2 for wrong arguments (an unknown flag, missing required
 * flags), 1 for anything else.
 */
import * as path from "path";
import { oneLine } from "../components/errors";
import { flagPhrase, FlagTable, formatFlags, HELP_FLAG, missingRequired, missingRequiredMessage, parseFlags, usageLine } from "./args";
import { formatRenderSummary } from "./report";
import { checkOutDir, missingDirs, RENDER_EPOCH, renderStacks, RenderError, summarize, writeRender } from "./render";

/** render's flags: what parseArgs parses, what --help prints, what README's table is checked against. */
export const FLAGS = {
  "config-dir": { type: "string", arg: "DIR", ifOmitted: "the project root", help: "the folder of the Pulumi.<stack>.yaml files" },
  cluster: { type: "string", multiple: true, arg: "FILE", ifOmitted: "an empty cluster", help: "YAML of objects the cluster already holds (kubectl get -o yaml)" },
  stack: { type: "string", multiple: true, arg: "NAME", ifOmitted: "required", help: "a stack to render, in order: the base before its forks" },
  out: { type: "string", arg: "DIR", ifOmitted: "required", help: "where cluster.yaml, resources.json and outputs.json go; missing folders are created" },
  json: { type: "boolean", ifOmitted: "off", help: "print the summary as JSON" },
  now: { type: "string", arg: "ISO", ifOmitted: `$FORKSTACK_NOW, else ${RENDER_EPOCH}`, help: "the instant the stacks see as now; wins over FORKSTACK_NOW" },
  help: HELP_FLAG,
} as const satisfies FlagTable;

export const USAGE = `${usageLine("usage: npm run render -- [--config-dir DIR] [--cluster FILE]... --stack NAME [--stack NAME]... --out DIR [--json] [--now ISO]")}

${formatFlags(FLAGS)}

exit code: 0 rendered, 1 anything else went wrong, 2 the arguments are wrong (one line render: …,
nothing written)`;

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** parseArgs' messages, as the one-line field/value/problem/fix form. */
const ARGS_HELP = {
  flags: flagPhrase(FLAGS),
  positionalFix: "name stacks with --stack NAME",
  help: "see npm run render -- --help",
};

/** Wrong arguments (unknown flag, missing required flags): exit code 2. */
class ArgsError extends RenderError {}

/** The stack being rendered, for the message when the program never finishes (see below). */
let currentStack: string | undefined;

/** Runs the CLI; resolves to the exit code. Never throws. */
export async function main(argv: readonly string[], io: Io, projectRoot = path.resolve(__dirname, "..")): Promise<number> {
  try {
    const values = parseFlags(argv, FLAGS, ARGS_HELP, (message) => new ArgsError(message));
    if (values.help) {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    const missing = missingRequired(FLAGS, values);
    const out = values.out;
    // (out === undefined only when missing names it: the test narrows the type.)
    if (missing.length > 0 || out === undefined) throw new ArgsError(missingRequiredMessage(missing, { stack: "--stack dev", out: "--out render-out" }, ARGS_HELP.help));
    checkOutDir(out);
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
    const created = missingDirs(out);
    writeRender(out, render);
    // Missing folders are created (a fresh --out a/b/c is fine), but say so: a typo shows up here.
    if (created.length > 0) io.stderr(`created ${created.join(", ")}\n`);
    const summary = summarize(render, out);
    io.stdout(values.json ? `${JSON.stringify(summary, null, 2)}\n` : formatRenderSummary(summary));
    return 0;
  } catch (err) {
    io.stderr(`render: ${err instanceof RenderError ? err.message : `internal error: ${oneLine(err)}`}\n`);
    if (!(err instanceof RenderError) && process.env.FORKSTACK_DEBUG) io.stderr(`${(err as Error).stack}\n`);
    return err instanceof ArgsError ? 2 : 1;
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
