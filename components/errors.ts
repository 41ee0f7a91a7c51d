/**
 * A user mistake in config or input: one line naming the field, the value and the fix.
 *
 * It extends `pulumi.RunError`-compatible behaviour in index.ts (which rethrows it as a RunError so the
 * Pulumi CLI prints the line without a stack trace) and is caught by the render CLI, which prints it
 * prefixed with the stack name.
 */
export class ConfigError extends Error {
  constructor(
    /** The config key or input path, e.g. `forkstack:fork.services[1].image`. */
    public readonly field: string,
    /** The offending value as the user gave it. */
    public readonly value: unknown,
    /** What is wrong with it, e.g. `is not a lowercase DNS label`. */
    public readonly problem: string,
    /** How to fix it, e.g. `use lowercase letters, digits and "-", e.g. "alice"`. */
    public readonly fix: string,
  ) {
    super(`${field}: ${describe(value)} ${problem}; ${fix}`);
    this.name = "ConfigError";
  }
}

function describe(value: unknown): string {
  if (value === undefined) return "(missing)";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** The one line a person should see for an error: ours as they are, anything else by its message. */
export function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split("\n")[0];
}
