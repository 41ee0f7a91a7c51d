/**
 * A user mistake in config or input: one line naming the field, the value and the fix.
 *
 * index.ts rethrows it as a `pulumi.RunError`, which the Pulumi CLI prints as that line without a
 * stack trace; the render and explain CLIs print it as their one line of error.
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
    super(`${field}: ${showValue(value)} ${problem}; ${fix}`);
    this.name = "ConfigError";
  }

  /** The same error without a value: for a key that is wrong as a whole (`forkstack:imgae is not …`). */
  withValueHidden(): ConfigError {
    const e = new ConfigError(this.field, this.value, this.problem, this.fix);
    e.message = `${this.field} ${this.problem}; ${this.fix}`;
    return e;
  }
}

// Not named `describe`: under Jest, Pulumi's closure serializer takes that name for Jest's global
// and would leave the function out of a serialized dynamic provider.
function showValue(value: unknown): string {
  if (value === undefined) return "(missing)";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** The one line a person should see for an error: ours as they are, anything else by its message. */
export function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split("\n")[0];
}
