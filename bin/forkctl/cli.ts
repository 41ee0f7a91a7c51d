/**
 * `forkctl`: a fork per pull request from CI on the Pulumi Automation API (README, "forkctl").
 * Thin: parses arguments (node:util parseArgs, strict), validates them all before any stack is
 * touched, calls commands.ts, prints text, JSON or a markdown pull-request comment. Exit codes:
 * 0 done, 1 an operation failed (one line on stderr), 2 the arguments are wrong (one line).
 */
import { parseArgs } from "util";
import { parseBaseStack } from "../../components/config";
import { ConfigError, oneLine } from "../../components/errors";
import { argsErrorMessage } from "../../render/args";
import { ForkBackend } from "./backend";
import {
  checkForkId,
  checkTtl,
  ClusterView,
  down,
  extend,
  ForkctlDeps,
  gc,
  list,
  parseEnvArg,
  parseHeaderArg,
  parseServiceArg,
  up,
  UpArgs,
  UsageError,
} from "./commands";
import { formatDown, formatFork, formatGc, formatList, OUTPUT_FORMATS, OutputFormat } from "./format";

export const DEFAULT_BASE = "organization/forkstack/dev";

export const USAGE = `usage: forkctl <command> [arguments] [--output text|json|markdown]

commands:
  up <id> --service NAMESPACE/NAME=IMAGE... [--env NAMESPACE/NAME:KEY=VALUE]... [--header K=V]...
          [--ttl DURATION] [--base ORG/PROJECT/STACK]
                 create or update fork <id> (stack <id>) and print its URLs; the expiry is
                 stamped when the fork is created (now + ttl) and kept by later updates
  extend <id> --ttl DURATION
                 the fork now expires DURATION from now (e.g. 24h, 7d)
  down <id>      destroy the fork and remove its stack (done already when it is gone)
  ls             list fork stacks: id, URLs, expiry, last update, state
  gc [--dry-run] destroy every expired fork; goes on past failures, exit 1 if any failed

flags:
  --service NAMESPACE/NAME=IMAGE   a shared Service to copy, with the image its copy runs (repeatable)
  --env NAMESPACE/NAME:KEY=VALUE   an env var for that copy's first container (repeatable)
  --header K=V                     an extra request header the gateway adds for this fork (repeatable)
  --ttl DURATION                   minutes, hours or days: 90m, 72h, 7d (default: never expires)
  --base ORG/PROJECT/STACK         the base stack (default: $FORKSTACK_BASE, else ${DEFAULT_BASE})
  --output text|json|markdown      how to print the result (default text; markdown is a PR comment)
  --no-cluster                     do not read the live cluster (no CPU/memory cost, no hop table)
  --dry-run                        gc: only say what would be destroyed
  -h, --help                       this text

Pulumi runs with this project as its program and the backend you are logged in to (PULUMI_BACKEND_URL,
PULUMI_ACCESS_TOKEN, PULUMI_CONFIG_PASSPHRASE as for pulumi itself); the cluster is reached with your
own kubeconfig ($KUBECONFIG), as a member of the fork group.

exit code: 0 done, 1 an operation failed, 2 the arguments are wrong`;

const OPTIONS = {
  service: { type: "string", multiple: true },
  env: { type: "string", multiple: true },
  header: { type: "string", multiple: true },
  ttl: { type: "string" },
  base: { type: "string" },
  output: { type: "string" },
  "no-cluster": { type: "boolean" },
  "dry-run": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const ARGS_HELP = {
  flags: "--service, --env, --header, --ttl, --base, --output, --no-cluster or --dry-run",
  positionalFix: "give the command and the fork id first, e.g. forkctl up pr-123 --service shop/api=IMAGE",
  help: "see forkctl --help",
};

const COMMANDS = ["up", "extend", "down", "ls", "gc"] as const;
type Command = (typeof COMMANDS)[number];

/** Which flags each command takes; any other is refused rather than ignored. */
const ALLOWED: Record<Command, readonly string[]> = {
  up: ["service", "env", "header", "ttl", "base", "output", "no-cluster"],
  extend: ["ttl", "output", "no-cluster"],
  down: ["output"],
  ls: ["output"],
  gc: ["dry-run", "output"],
};

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** Builds the backend and the cluster view once the arguments are known to be valid. */
export type DepsFactory = (opts: { cluster: boolean; progress: (line: string) => void }) => Promise<ForkctlDeps> | ForkctlDeps;

interface Parsed {
  command: Command;
  id?: string;
  up?: UpArgs;
  ttl?: string;
  dryRun: boolean;
  output: OutputFormat;
  cluster: boolean;
}

export function parse(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Parsed | "help" {
  let values: Record<string, unknown>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (err) {
    throw new UsageError(argsErrorMessage(err, ARGS_HELP));
  }
  if (values.help) return "help";
  const [command, ...rest] = positionals;
  if (command === undefined) throw new UsageError(new ConfigError("command", command, "is required", `use one of ${COMMANDS.join(", ")}; see forkctl --help`).message);
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new UsageError(new ConfigError("command", command, "is not a forkctl command", `use one of ${COMMANDS.join(", ")}; see forkctl --help`).message);
  }
  const cmd = command as Command;
  for (const flag of Object.keys(values)) {
    if (!ALLOWED[cmd].includes(flag)) throw new UsageError(new ConfigError(`--${flag}`, values[flag], `is not an option of forkctl ${cmd}`, "see forkctl --help").message);
  }
  const takesId = cmd === "up" || cmd === "extend" || cmd === "down";
  if (rest.length > (takesId ? 1 : 0)) {
    throw new UsageError(new ConfigError("argument", rest[takesId ? 1 : 0], "is not expected", `forkctl ${cmd} takes ${takesId ? "one fork id" : "no arguments"}; see forkctl --help`).message);
  }
  const output = (values.output ?? "text") as string;
  if (!(OUTPUT_FORMATS as readonly string[]).includes(output)) {
    throw new UsageError(new ConfigError("--output", output, "is not an output format", `use ${OUTPUT_FORMATS.join(", ")}`).message);
  }
  const parsed: Parsed = { command: cmd, dryRun: values["dry-run"] === true, output: output as OutputFormat, cluster: values["no-cluster"] !== true };
  if (takesId) parsed.id = checkForkId(rest[0]);
  if (cmd === "extend") {
    if (values.ttl === undefined) throw new UsageError(new ConfigError("--ttl", undefined, "is required", "say how long from now the fork lives, e.g. --ttl 24h").message);
    parsed.ttl = checkTtl(values.ttl as string);
  }
  if (cmd === "up") {
    const services = ((values.service as string[] | undefined) ?? []).map(parseServiceArg);
    const envByService: Record<string, Record<string, string>> = {};
    for (const text of (values.env as string[] | undefined) ?? []) {
      const e = parseEnvArg(text);
      (envByService[e.service] ??= {})[e.key] = e.value;
    }
    const headers: Record<string, string> = {};
    for (const text of (values.header as string[] | undefined) ?? []) {
      const [k, v] = parseHeaderArg(text);
      headers[k] = v;
    }
    // The base stack: --base, else FORKSTACK_BASE when set and not empty, else the default.
    const base = (values.base as string | undefined) ?? (env.FORKSTACK_BASE ? env.FORKSTACK_BASE : DEFAULT_BASE);
    try {
      parseBaseStack(base);
    } catch (err) {
      if (err instanceof ConfigError) throw new UsageError(new ConfigError("--base", base, err.problem, err.fix).message);
      throw err;
    }
    parsed.up = { id: parsed.id!, services, env: envByService, headers, ttl: checkTtl(values.ttl as string | undefined), base };
  }
  return parsed;
}
/** Runs forkctl; returns the exit code. Never throws for a user mistake or a failed operation. */
export async function main(argv: readonly string[], io: Io, makeDeps: DepsFactory, env: Readonly<Record<string, string | undefined>> = process.env): Promise<number> {
  let parsed: Parsed | "help";
  try {
    parsed = parse(argv, env);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`forkctl: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (parsed === "help") {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  const p = parsed;
  try {
    const deps = await makeDeps({ cluster: p.cluster, progress: (line) => io.stderr(`${line}\n`) });
    const now = deps.now();
    switch (p.command) {
      case "up":
        io.stdout(`${formatFork(await up(deps, p.up!), p.output, now)}\n`);
        return 0;
      case "extend":
        io.stdout(`${formatFork(await extend(deps, p.id!, p.ttl!), p.output, now)}\n`);
        return 0;
      case "down":
        io.stdout(`${formatDown(await down(deps, p.id!), p.output)}\n`);
        return 0;
      case "ls":
        io.stdout(`${formatList(await list(deps), p.output, now)}\n`);
        return 0;
      case "gc": {
        const result = await gc(deps, p.dryRun);
        io.stdout(`${formatGc(result, p.output)}\n`);
        return result.failed.length === 0 ? 0 : 1;
      }
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`forkctl: ${err.message}\n`);
      return 2;
    }
    io.stderr(`forkctl ${p.command}${p.id ? ` ${p.id}` : ""}: ${oneLine(err)}\n`);
    if (process.env.FORKSTACK_DEBUG === "1" && err instanceof Error && err.stack) io.stderr(`${err.stack}\n`);
    return 1;
  }
}

export type { ForkBackend, ClusterView };

if (require.main === module) {
  // Loaded only for a real run: the Automation API and client-node are not needed by the tests of
  // the argument handling above.
  const run = async () => {
    const { automationDeps } = await import("./automation");
    const code = await main(process.argv.slice(2), { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }, automationDeps);
    process.exitCode = code;
  };
  run().catch((err) => {
    process.stderr.write(`forkctl: ${oneLine(err)}\n`);
    process.exitCode = 1;
  });
}
