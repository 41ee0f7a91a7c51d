/**
 * The command-line flags of every CLI (render, explain, demo, forkctl) as one table each: the
 * table is what `util.parseArgs` parses, what `--help` prints (every flag with its default) and
 * what test/docs.test.ts checks README.md against, so the three cannot drift apart. Also what the
 * CLIs say when `util.parseArgs` (strict) refuses their arguments: one line naming the flag or
 * argument and the fix, in the shape of a ConfigError.
 */
import { parseArgs } from "util";
import { ConfigError, oneLine } from "../components/errors";

/**
 * One flag. `type`, `multiple` and `short` are `util.parseArgs`' own option fields (the table is
 * handed to it as it is; it ignores the others). `default` is deliberately not used: several
 * defaults are computed (an environment variable, another file), so `ifOmitted` says in words
 * what applies when the flag is not given.
 */
export interface Flag {
  readonly type: "string" | "boolean";
  readonly multiple?: boolean;
  readonly short?: string;
  /** The value's placeholder in help, e.g. `DIR`. */
  readonly arg?: string;
  /** What applies when the flag is not given, e.g. "the project root", "required", "off". */
  readonly ifOmitted: string;
  /** One phrase: what the flag does. */
  readonly help: string;
}

export type FlagTable = Readonly<Record<string, Flag>>;

/** `-h, --help`, the same in every CLI. */
export const HELP_FLAG = { type: "boolean", short: "h", ifOmitted: "off", help: "print this help and exit" } as const satisfies Flag;

/** How a flag is written in help and README: `--out DIR`, `--cluster FILE...`, `-h, --help`. */
export function flagSyntax(name: string, flag: Flag): string {
  const short = flag.short ? `-${flag.short}, ` : "";
  return `${short}--${name}${flag.arg ? ` ${flag.arg}` : ""}${flag.multiple ? "..." : ""}`;
}

/**
 * Word-wraps `text` to `width` columns (characters, not bytes), keeping its leading spaces and
 * continuing lines with `indent` spaces. A word longer than a line stays whole.
 */
export function wrap(text: string, width: number, indent: number): string[] {
  const lead = /^ */.exec(text)![0];
  const lines: string[] = [];
  let line = lead;
  for (const word of text.slice(lead.length).split(" ")) {
    const candidate = line.trim() === "" ? `${line}${word}` : `${line} ${word}`;
    if ([...candidate].length > width && line.trim() !== "") {
      lines.push(line);
      line = `${" ".repeat(indent)}${word}`;
    } else {
      line = candidate;
    }
  }
  lines.push(line);
  return lines;
}

/** Help lines for `names` of `table` (default: all), each with its default, within 100 columns. */
export function formatFlags(table: FlagTable, names: readonly string[] = Object.keys(table)): string {
  const left = names.map((n) => `  ${flagSyntax(n, table[n])}`);
  const col = Math.min(Math.max(...left.map((l) => l.length)) + 2, 34);
  return names
    .flatMap((n, i) => {
      const flag = table[n];
      const text = `${flag.help} (${flag.ifOmitted === "required" ? "required" : `default: ${flag.ifOmitted}`})`;
      const head = left[i].length + 2 > col ? [left[i]] : [];
      const first = head.length > 0 ? " ".repeat(col) : left[i].padEnd(col);
      return [...head, ...wrap(`${first}${text}`, 100, col)];
    })
    .join("\n");
}

/** A usage line, wrapped to 100 columns. */
export function usageLine(text: string): string {
  return wrap(text, 100, 6).join("\n");
}

/** "--a, --b or --c": the flags of `table` a user passes (help left out). */
export function flagPhrase(table: FlagTable): string {
  const names = Object.keys(table).filter((n) => n !== "help").map((n) => `--${n}`);
  return names.length <= 1 ? names.join("") : `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`;
}

export interface ArgsHelp {
  /** The flags a user can pass, as a phrase: "--render, --host or --json". */
  readonly flags: string;
  /** What to do instead of a positional argument. */
  readonly positionalFix: string;
  /** Where to read more, e.g. "see npm run explain -- --help". */
  readonly help: string;
}

/** The one-line message for an error thrown by `util.parseArgs`. */
export function argsErrorMessage(err: unknown, help: ArgsHelp): string {
  const code = (err as { code?: string }).code;
  const message = oneLine(err);
  const flag = /'(-[^']*)'/.exec(message)?.[1] ?? /"(-[^"]*)"/.exec(message)?.[1];
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return new ConfigError(flag ?? "option", flag, "is not an option", `use ${help.flags}; ${help.help}`).message;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return new ConfigError("argument", /'([^']*)'/.exec(message)?.[1], "is not expected", `${help.positionalFix}; ${help.help}`).message;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return new ConfigError(flag ?? "option", undefined, "needs a value", help.help).message;
    default:
      return `${message}; ${help.help}`;
  }
}

/**
 * `util.parseArgs` (strict, no positionals) over `table`, with its refusal turned into the one-line
 * message by `fail` (each CLI's own error type, which decides its exit code).
 */
export function parseFlags<T extends FlagTable>(argv: readonly string[], table: T, help: ArgsHelp, fail: (message: string) => Error) {
  try {
    return parseArgs({ args: [...argv], options: table, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw fail(argsErrorMessage(err, help));
  }
}

/**
 * The flags of `table` whose default is "required" and that `values` (what `util.parseArgs` returned)
 * lacks: not given, given empty (unless `emptyAllowed` names it), or (for a repeatable flag) given no
 * time. In table order.
 */
export function missingRequired(table: FlagTable, values: Readonly<Record<string, unknown>>, emptyAllowed: readonly string[] = []): string[] {
  return Object.keys(table).filter((name) => {
    if (table[name].ifOmitted !== "required") return false;
    const v = values[name];
    return v === undefined || (v === "" && !emptyAllowed.includes(name)) || (Array.isArray(v) && v.length === 0);
  });
}

/**
 * One line naming every missing required flag at once, e.g. `--stack and --out: (missing) are
 * required; add them, e.g. --stack dev --out render-out; see npm run render -- --help`.
 * `examples` gives each flag as it might be written (`{ out: "--out render-out" }`).
 */
export function missingRequiredMessage(missing: readonly string[], examples: Readonly<Record<string, string>>, help: string): string {
  const names = missing.map((n) => `--${n}`);
  const phrase = names.length === 1 ? names[0] : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
  const example = missing.map((n) => examples[n] ?? `--${n} …`).join(" ");
  return new ConfigError(phrase, undefined, names.length === 1 ? "is required" : "are required", `add ${names.length === 1 ? "it" : "them"}, e.g. ${example}; ${help}`).message;
}
