/**
 * What the CLIs say when `util.parseArgs` (strict) refuses their arguments: one line naming the
 * flag or argument and the fix, in the shape of a ConfigError.
 */
import { ConfigError, oneLine } from "../components/errors";

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
