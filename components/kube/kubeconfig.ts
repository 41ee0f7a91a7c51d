/**
 * Keeping credentials out of error messages. A kubeconfig holds tokens, client keys and passwords;
 * a YAML parser's error quotes the offending lines (js-yaml, which client-node uses, prints a
 * snippet around the mark), and API errors can echo request headers. Nothing forkstack prints may
 * carry them.
 *
 * No imports: this runs inside the serialized ForkRoutes provider (fork/forkRoutes.ts).
 */
import { ConfigError } from "../errors";

const SECRET_FIELD = /((?:token|client-key-data|client-certificate-data|password|secret|id-token|refresh-token|access-token)["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,}]+)/gi;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g;

/** The text with every credential-looking value replaced by "[redacted]". */
export function redact(text: string): string {
  return text.replace(SECRET_FIELD, "$1[redacted]").replace(BEARER, "$1 [redacted]");
}

/**
 * The one-line error for a kubeconfig client-node could not read. Built from the parser's position
 * only (js-yaml's `mark`, 0-based), never from its message, which quotes the kubeconfig.
 * @param source what the kubeconfig is, e.g. the base stack's `kubeconfig` output.
 */
export function kubeconfigError(err: unknown, source: string): ConfigError {
  const mark = (err as { mark?: { line?: unknown; column?: unknown } } | null)?.mark;
  const reason = (err as { reason?: unknown } | null)?.reason;
  const where = typeof mark?.line === "number" && typeof mark.column === "number" ? ` at line ${mark.line + 1}, column ${mark.column + 1}` : "";
  const why = typeof reason === "string" ? ` (${redact(reason)})` : "";
  const problem = where !== "" || (err as { name?: unknown } | null)?.name === "YAMLException" ? `is not valid YAML${where}${why}` : "is not a kubeconfig forkstack can read";
  return new ConfigError(source, "[kubeconfig, not shown]", problem, "fix the kubeconfig (kubectl config view --raw reads it) and run again");
}
