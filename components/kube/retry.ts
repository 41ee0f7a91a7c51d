/**
 * Bounded, jittered retries and a timeout for every Kubernetes API call forkstack makes.
 *
 * Retried: 429 Too Many Requests and 5xx answers (API priority and fairness sheds load with 429 and
 * a `Retry-After`; https://kubernetes.io/docs/concepts/cluster-administration/flow-control/), reset
 * or refused connections and calls that timed out. Not retried here: 409 Conflict (the
 * read-modify-write in fork/routeSync.ts re-reads and merges again) and every other answer, which
 * no retry fixes. Waits are "full jitter" (uniform in [0, ceiling), the ceiling doubling per attempt)
 * so that many forks shed by the same 429 do not come back together
 * (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/), and never shorter
 * than the server's `Retry-After`.
 */

/** How a waiting loop sleeps and draws its jitter; injectable so tests need not wait. */
export interface Pacing {
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** @default Math.random */
  readonly random?: () => number;
}

/** Resolves after `ms` (the default `Pacing.sleep`). */
export const sleepFor = (ms: number): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface RetryOptions extends Pacing {
  /** @default 5 */
  readonly attempts?: number;
  /** @default 200 */
  readonly baseDelayMs?: number;
  /** Also the longest Retry-After honoured. @default 10000 */
  readonly maxDelayMs?: number;
  /** Per attempt. @default 30000 */
  readonly timeoutMs?: number;
  /**
   * Which failures to retry. A request that is not idempotent may only be repeated when it surely
   * had no effect (`notApplied`).
   * @default isTransient
   */
  readonly retryIf?: (err: unknown) => boolean;
}

export const RETRY_DEFAULTS = { attempts: 5, baseDelayMs: 200, maxDelayMs: 10_000, timeoutMs: 30_000 } as const;

/** A call that did not answer within its timeout. */
export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    const message = `${what}: no answer within ${ms / 1000} s`;
    super(message);
    this.name = "TimeoutError";
    this.message = message; // kept when serialized into a dynamic provider (fork/forkRoutes.ts asError)
  }
}

const TRANSIENT_CODES = ["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EPIPE", "EAI_AGAIN", "ECONNABORTED", "ENETUNREACH", "EHOSTUNREACH", "UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT"];

/** The HTTP status of an API answer (client-node's ApiException keeps it in `.code`). */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

/**
 * Whether `err` is an error with one of these names. Our error classes are told apart by `name`, not
 * by `instanceof`: ForkRoutes runs as a serialized closure (fork/forkRoutes.ts), where the classes it
 * captured and the ones of the modules it loads where it runs are different objects, so `instanceof`
 * misses there. Seen in the e2e tier: a 422 PatchRejectedError during two forks' concurrent destroy
 * was not retried but failed the destroy.
 */
export function errorNamed(err: unknown, ...names: string[]): boolean {
  const name = (err as { name?: unknown } | null | undefined)?.name;
  return typeof name === "string" && names.includes(name);
}

/** An error's message on one line (a 404 for an unknown API group has a plain-text body ending in a newline). */
export const oneLine = (err: unknown): string => String((err as { message?: unknown } | null)?.message ?? err).replace(/\s+/g, " ").trim();

/** Whether a retry may succeed where this attempt failed. */
export function isTransient(err: unknown): boolean {
  if (errorNamed(err, "TimeoutError")) return true;
  const status = statusOf(err);
  if (status !== undefined) return status === 429 || (status >= 500 && status <= 599);
  for (let e: any = err, depth = 0; e && depth < 4; e = e.cause, depth++) {
    if (typeof e.code === "string" && TRANSIENT_CODES.includes(e.code)) return true;
    if (typeof e.message === "string" && /socket hang up|ECONNRESET/.test(e.message)) return true;
  }
  return false;
}

/**
 * Whether a failed request surely changed nothing: shed with 429 by API priority and fairness before
 * any handler ran, or never connected. A timeout, a reset or a 5xx may come after the server applied it.
 */
export function notApplied(err: unknown): boolean {
  if (statusOf(err) === 429) return true;
  for (let e: any = err, depth = 0; e && depth < 4; e = e.cause, depth++) {
    if (e.code === "ECONNREFUSED" || e.code === "UND_ERR_CONNECT_TIMEOUT") return true;
  }
  return false;
}

/** The server's `Retry-After` in ms (seconds or an HTTP date), if it sent one. */
export function retryAfterMs(err: unknown, now = Date.now()): number | undefined {
  const headers = (err as { headers?: unknown } | null)?.headers as Record<string, unknown> | undefined;
  if (headers === undefined || headers === null || typeof headers !== "object") return undefined;
  const entry = Object.entries(headers).find(([k]) => k.toLowerCase() === "retry-after");
  const raw = entry === undefined ? undefined : String(Array.isArray(entry[1]) ? entry[1][0] : entry[1]);
  if (raw === undefined) return undefined;
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim()) * 1000;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Resolves or rejects like `p`, or rejects with TimeoutError after `ms` (calling `onTimeout` first). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string, onTimeout?: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new TimeoutError(what, ms));
    }, ms);
    timer.unref?.();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs `call` with a timeout per attempt, retrying transient failures; rethrows the last one.
 * Each attempt gets a signal that is aborted when the attempt times out: a call that passes it on
 * to its request closes the connection, and the server drops the request (kube-apiserver cancels a
 * request's context when its client goes away) instead of working on it next to the retry. Without
 * that, a timed-out write stayed in the server, and 200 forks writing one VirtualService could
 * each have up to five writes queued there at once.
 */
export async function withRetries<T>(what: string, call: (signal: AbortSignal) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = opts.attempts ?? RETRY_DEFAULTS.attempts;
  const base = opts.baseDelayMs ?? RETRY_DEFAULTS.baseDelayMs;
  const cap = opts.maxDelayMs ?? RETRY_DEFAULTS.maxDelayMs;
  const timeoutMs = opts.timeoutMs ?? RETRY_DEFAULTS.timeoutMs;
  const sleep = opts.sleep ?? sleepFor;
  const random = opts.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      const attemptSignal = new AbortController();
      return await withTimeout(call(attemptSignal.signal), timeoutMs, what, () => attemptSignal.abort(new TimeoutError(what, timeoutMs)));
    } catch (err) {
      if (attempt >= attempts || !(opts.retryIf ?? isTransient)(err)) throw err;
      const jittered = Math.floor(random() * Math.min(cap, base * 2 ** (attempt - 1)));
      const after = retryAfterMs(err);
      await sleep(after === undefined ? jittered : Math.max(jittered, Math.min(after, cap)));
    }
  }
}
