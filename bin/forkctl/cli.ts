/**
 * `forkctl`: a fork per pull request from CI on the Pulumi Automation API (docs/forkctl.md).
 * Thin: parses arguments (node:util parseArgs, strict), validates them all before any stack is
 * touched, calls commands.ts, prints text, JSON or a markdown pull-request comment. Exit codes:
 * 0 done, 1 an operation failed (its cause in one line on stderr, see errors.ts), 2 the arguments
 * are wrong or the stack is not a fork of the base (one line, nothing changed).
 */
import { parseArgs } from "util";
import { DEFAULTS, MAX_REPLICAS, parseBaseStack } from "../../components/config";
import { ConfigError, oneLine } from "../../components/errors";
import { argsErrorMessage, flagPhrase, flagSyntax, FlagTable, formatFlags, HELP_FLAG, usageLine, wrap } from "../../render/args";
import { ForkBackend } from "./backend";
import { failureLines } from "./errors";
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
  parseReplicasArg,
  parseServiceArg,
  up,
  UpArgs,
  UsageError,
} from "./commands";
import { formatDown, formatFork, formatGc, formatList, OUTPUT_FORMATS, OutputFormat } from "./format";

export const DEFAULT_BASE = "organization/forkstack/dev";

/** forkctl's flags: what parseArgs parses, what --help prints, what README's table is checked against. */
export const FLAGS = {
  service: { type: "string", multiple: true, arg: "NAMESPACE/NAME[=IMAGE]", ifOmitted: "none: a header-only fork", help: "a shared Service to copy; its copy runs IMAGE, or without =IMAGE the shared image" },
  replicas: { type: "string", multiple: true, arg: "NAMESPACE/NAME=N", ifOmitted: `${DEFAULTS.replicas} per copy`, help: `how many pods that copy runs (1 to ${MAX_REPLICAS}; the base stack may allow fewer)` },
  env: { type: "string", multiple: true, arg: "NAMESPACE/NAME:KEY=VALUE", ifOmitted: "none", help: "an env var for that copy's first container" },
  header: { type: "string", multiple: true, arg: "K=V", ifOmitted: "none", help: "an extra request header the gateway adds for this fork" },
  ttl: { type: "string", arg: "DURATION", ifOmitted: "up: never expires; extend: required", help: "how long from now the fork lives: 90m, 72h, 7d" },
  base: {
    type: "string",
    arg: "ORG/PROJECT/STACK",
    ifOmitted: `$FORKSTACK_BASE, else ${DEFAULT_BASE}`,
    help: "the base stack; forkctl acts only on forks of it",
  },
  output: { type: "string", arg: "text|json|markdown", ifOmitted: "text", help: "how to print the result (markdown: a pull-request comment)" },
  "no-cluster": { type: "boolean", ifOmitted: "off: the live cluster is read", help: "do not read the live cluster (no CPU/memory cost, no hop table; gc: no sweep of retired routes)" },
  "dry-run": { type: "boolean", ifOmitted: "off", help: "only say which forks gc would destroy and which retired routes it would sweep" },
  help: HELP_FLAG,
} as const satisfies FlagTable;

type FlagName = keyof typeof FLAGS;

/** Every command: its arguments, the flags it takes (any other is refused rather than ignored), what it does. */
export const COMMANDS = {
  up: {
    args: "<id>",
    flags: ["service", "replicas", "env", "header", "ttl", "base", "output", "no-cluster"],
    ifOmitted: { ttl: "never expires" },
    help: "create or update fork <id> (stack <id>) and print its URLs; the expiry is stamped when the fork is created (now + ttl) and kept by later updates",
  },
  extend: { args: "<id>", flags: ["ttl", "base", "output", "no-cluster"], ifOmitted: { ttl: "required" }, help: "the fork now expires --ttl from now (e.g. 24h, 7d)" },
  down: { args: "<id>", flags: ["base", "output"], help: "destroy the fork and remove its stack (done already when it is gone)" },
  ls: { args: "", flags: ["base", "output"], help: "list the forks of the base: id, URLs, expiry, last update, state (failed: with its last error)" },
  gc: {
    args: "",
    flags: ["dry-run", "base", "output", "no-cluster"],
    help: "destroy every expired fork of the base, failed ones too, then remove the retired routes of forks that are gone from the shared VirtualServices; goes on past failures, exit 1 if any failed",
  },
} as const satisfies Record<string, { args: string; flags: readonly FlagName[]; ifOmitted?: Partial<Record<FlagName, string>>; help: string }>;

type Command = keyof typeof COMMANDS;
const COMMAND_NAMES = Object.keys(COMMANDS) as Command[];

const ENVIRONMENT = `Pulumi runs with this project as its program and the backend you are logged in to
(PULUMI_BACKEND_URL, PULUMI_ACCESS_TOKEN, PULUMI_CONFIG_PASSPHRASE as for pulumi itself); the
cluster is reached with your own kubeconfig ($KUBECONFIG), as a member of the fork group.`;

const EXIT_CODES = `exit code: 0 done, 1 an operation failed (its cause in one line),
2 the arguments are wrong or the stack is not a fork of the base (nothing is changed),
130 interrupted (Ctrl-C: pulumi stops the update and frees the stack first)`;

export const USAGE = `usage: forkctl <command> [arguments] [flags]   (forkctl <command> --help: its flags)

commands:
${COMMAND_NAMES.map((c) => wrap(`  ${`${c} ${COMMANDS[c].args}`.padEnd(12)}${COMMANDS[c].help}`, 100, 14).join("\n")).join("\n")}

flags:
${formatFlags(FLAGS)}

${ENVIRONMENT}

${EXIT_CODES}`;

/** The flags `command` takes (and --help), each with what applies to this command when it is omitted. */
export function commandFlags(command: Command): FlagTable {
  const entry: { flags: readonly FlagName[]; ifOmitted?: Partial<Record<FlagName, string>> } = COMMANDS[command];
  return Object.fromEntries([...entry.flags, "help" as const].map((f) => [f, { ...FLAGS[f], ifOmitted: entry.ifOmitted?.[f] ?? FLAGS[f].ifOmitted }]));
}

/** `forkctl <command> --help`: the command and every flag it takes, with its default (or required). */
export function commandUsage(command: Command): string {
  const { args, help } = COMMANDS[command];
  const table = commandFlags(command);
  const synopsis = Object.entries(table)
    .filter(([f]) => f !== "help")
    .map(([f, flag]) => (flag.ifOmitted === "required" ? flagSyntax(f, flag) : `[${flagSyntax(f, flag)}]`))
    .join(" ");
  return `${usageLine(`usage: forkctl ${command}${args ? ` ${args}` : ""} ${synopsis}`)}

${wrap(help, 100, 0).join("\n")}

flags:
${formatFlags(table)}

${EXIT_CODES}`;
}

const ARGS_HELP = {
  flags: flagPhrase(FLAGS),
  positionalFix: "give the command and the fork id first, e.g. forkctl up pr-123 --service shop/api=IMAGE",
  help: "see forkctl --help",
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
  /** The base stack forkctl acts on forks of. */
  base: string;
  up?: UpArgs;
  ttl?: string;
  dryRun: boolean;
  output: OutputFormat;
  cluster: boolean;
}

/** What --help asks for: forkctl's whole usage, or one command's. */
type Help = { help: Command | undefined };

export function parse(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Parsed | Help {
  let values: Record<string, unknown>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options: FLAGS, allowPositionals: true, strict: true }));
  } catch (err) {
    throw new UsageError(argsErrorMessage(err, ARGS_HELP));
  }
  const [command, ...rest] = positionals;
  // An unknown command is refused even with --help: the general help would hide the typo.
  if (command !== undefined && !(COMMAND_NAMES as string[]).includes(command)) {
    throw new UsageError(new ConfigError("command", command, "is not a forkctl command", `use one of ${COMMAND_NAMES.join(", ")}; see forkctl --help`).message);
  }
  if (values.help) return { help: command as Command | undefined };
  if (command === undefined) throw new UsageError(new ConfigError("command", command, "is required", `use one of ${COMMAND_NAMES.join(", ")}; see forkctl --help`).message);
  const cmd = command as Command;
  for (const flag of Object.keys(values)) {
    if (!(COMMANDS[cmd].flags as readonly string[]).includes(flag)) {
      throw new UsageError(new ConfigError(`--${flag}`, values[flag], `is not an option of forkctl ${cmd}`, `see forkctl ${cmd} --help`).message);
    }
  }
  const takesId = cmd === "up" || cmd === "extend" || cmd === "down";
  if (rest.length > (takesId ? 1 : 0)) {
    throw new UsageError(new ConfigError("argument", rest[takesId ? 1 : 0], "is not expected", `forkctl ${cmd} takes ${takesId ? "one fork id" : "no arguments"}; see forkctl --help`).message);
  }
  const output = (values.output ?? "text") as string;
  if (!(OUTPUT_FORMATS as readonly string[]).includes(output)) {
    throw new UsageError(new ConfigError("--output", output, "is not an output format", `use ${OUTPUT_FORMATS.join(", ")}`).message);
  }
  const parsed: Parsed = { command: cmd, base: baseOf(values.base as string | undefined, env), dryRun: values["dry-run"] === true, output: output as OutputFormat, cluster: values["no-cluster"] !== true };
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
    const replicas: Record<string, number> = {};
    for (const text of (values.replicas as string[] | undefined) ?? []) {
      const r = parseReplicasArg(text);
      replicas[r.service] = r.replicas;
    }
    const headers: Record<string, string> = {};
    for (const text of (values.header as string[] | undefined) ?? []) {
      const [k, v] = parseHeaderArg(text);
      headers[k] = v;
    }
    parsed.up = { id: parsed.id!, services, env: envByService, ...(Object.keys(replicas).length > 0 ? { replicas } : {}), headers, ttl: checkTtl(values.ttl as string | undefined), base: parsed.base };
  }
  return parsed;
}

/** The base stack: --base, else FORKSTACK_BASE when set and not empty, else the default. */
function baseOf(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  const base = flag ?? (env.FORKSTACK_BASE ? env.FORKSTACK_BASE : DEFAULT_BASE);
  try {
    return parseBaseStack(base);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(new ConfigError(flag === undefined ? "FORKSTACK_BASE" : "--base", base, err.problem, err.fix).message);
    throw err;
  }
}

/** Runs forkctl; returns the exit code. Never throws for a user mistake or a failed operation. */
export async function main(argv: readonly string[], io: Io, makeDeps: DepsFactory, env: Readonly<Record<string, string | undefined>> = process.env): Promise<number> {
  let parsed: Parsed | Help;
  try {
    parsed = parse(argv, env);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`forkctl: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if ("help" in parsed) {
    io.stdout(`${parsed.help === undefined ? USAGE : commandUsage(parsed.help)}\n`);
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
        io.stdout(`${formatFork(await extend(deps, p.id!, p.ttl!, p.base), p.output, now)}\n`);
        return 0;
      case "down":
        io.stdout(`${formatDown(await down(deps, p.id!, p.base), p.output)}\n`);
        return 0;
      case "ls":
        io.stdout(`${formatList(await list(deps, p.base), p.output, now)}\n`);
        return 0;
      case "gc": {
        const result = await gc(deps, p.base, p.dryRun);
        io.stdout(`${formatGc(result, p.output)}\n`);
        return result.failed.length === 0 && (result.sweep?.failed.length ?? 0) === 0 ? 0 : 1;
      }
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`forkctl: ${err.message}\n`);
      return 2;
    }
    // What went wrong, reduced to the lines that matter (errors.ts); the whole error with FORKSTACK_DEBUG=1.
    const [first, ...more] = failureLines(err);
    io.stderr(`forkctl ${p.command}${p.id ? ` ${p.id}` : ""}: ${first}\n${more.map((l) => `  ${l}\n`).join("")}`);
    if (process.env.FORKSTACK_DEBUG === "1" && err instanceof Error) io.stderr(`${err.message}\n${err.stack ?? ""}\n`);
    return 1;
  }
}

export type { ForkBackend, ClusterView };

/**
 * What forkctl does on Ctrl-C (SIGINT) or SIGTERM while it runs. The terminal (or a CI runner)
 * signals the whole process group, so the Pulumi CLI has it too: it stops the update at the next
 * safe point, records it and frees the stack, writing its output to forkctl's pipes as it does.
 * Exiting at once would close those pipes, and a Go program writing to a closed pipe is killed by
 * SIGPIPE: the stack would stay locked. So the first signal is said and waited out; a second one
 * exits at once (130), and the next forkctl run clears a lock left so (docs/forkctl.md).
 */
export function onInterrupt(io: Pick<Io, "stderr">, exit: (code: number) => void): (signal: string) => void {
  let seen = 0;
  return (signal) => {
    if (++seen > 1) return exit(130);
    io.stderr(`forkctl: ${signal}: waiting for pulumi to stop the update and free the stack; ${signal} again to stop waiting (the next forkctl run clears a lock left behind)\n`);
  };
}

if (require.main === module) {
  // Loaded only for a real run: the Automation API and client-node are not needed by the tests of
  // the argument handling above.
  const run = async () => {
    const { automationDeps } = await import("./automation");
    const io: Io = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };
    const interrupted = onInterrupt(io, (code) => process.exit(code));
    let signalled = false;
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => ((signalled = true), interrupted(signal)));
    const code = await main(process.argv.slice(2), io, automationDeps);
    process.exitCode = signalled && code !== 0 ? 130 : code;
  };
  run().catch((err) => {
    process.stderr.write(`forkctl: ${oneLine(err)}\n`);
    process.exitCode = 1;
  });
}
