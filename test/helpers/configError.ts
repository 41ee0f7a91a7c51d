/** The ConfigError a call throws, for tests of one-line refusals; any other outcome fails the test. */
import { ConfigError } from "../../components/errors";

export function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}
