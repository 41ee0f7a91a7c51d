/**
 * The harness's own small HTTPS client for the e2e API server: readiness probes, CRD installs,
 * seeding, server-side dry-run applies. The code under test talks through @kubernetes/client-node
 * instead (components/kube/clientNode.ts); this client exists so that the harness does not depend
 * on the code it checks.
 *
 * Every call has a timeout; `withRetry` retries only what can pass on a second try (connection
 * refused or reset while the server starts, timeouts, 429 and 5xx), a bounded number of times with
 * full-jitter backoff. Nothing here prints a key or certificate.
 */
import * as fs from "node:fs";
import * as https from "node:https";

export interface RestConfig {
  server: string; // https://127.0.0.1:PORT
  ca: string; // PEM text
  cert: string;
  key: string;
}

export interface RestResponse {
  status: number;
  body: any;
  text: string;
}

export class HttpError extends Error {
  constructor(
    public readonly status: number,
    public readonly body: any,
    what: string,
  ) {
    super(`${what}: HTTP ${status}: ${typeof body?.message === "string" ? body.message : JSON.stringify(body).slice(0, 500)}`);
    this.name = "HttpError";
  }
}

export const DEFAULT_TIMEOUT_MS = 15_000;

export function restConfigFromFiles(server: string, caFile: string, certFile: string, keyFile: string): RestConfig {
  return { server, ca: fs.readFileSync(caFile, "utf8"), cert: fs.readFileSync(certFile, "utf8"), key: fs.readFileSync(keyFile, "utf8") };
}

export function request(
  cfg: RestConfig,
  method: string,
  path: string,
  body?: unknown,
  opts: { contentType?: string; timeoutMs?: number } = {},
): Promise<RestResponse> {
  const url = new URL(path, cfg.server);
  const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method,
        ca: cfg.ca,
        cert: cfg.cert,
        key: cfg.key,
        headers: {
          accept: "application/json",
          ...(payload !== undefined ? { "content-type": opts.contentType ?? "application/json", "content-length": Buffer.byteLength(payload) } : {}),
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: any = text;
          try {
            parsed = text === "" ? undefined : JSON.parse(text);
          } catch {
            /* plain text (readyz, some 404s) */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, text });
        });
        res.on("error", reject);
      },
    );
    // `timeout` only fires on an idle socket; destroy so the promise settles.
    req.on("timeout", () => req.destroy(new Error(`${method} ${url.pathname}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** Like `request`, but rejects with HttpError unless the status is 2xx. */
export async function call(cfg: RestConfig, method: string, path: string, body?: unknown, opts: { contentType?: string; timeoutMs?: number } = {}): Promise<any> {
  const res = await request(cfg, method, path, body, opts);
  if (res.status < 200 || res.status > 299) throw new HttpError(res.status, res.body ?? res.text, `${method} ${path}`);
  return res.body;
}

function transient(err: unknown): boolean {
  if (err instanceof HttpError) {
    // Server-side apply answers 500 to a field the schema does not declare (kubernetes/kubernetes#139253):
    // the object is wrong, a retry cannot help.
    if (/failed to create typed patch object/.test(err.message)) return false;
    return err.status === 429 || err.status >= 500;
  }
  const code = (err as { code?: string } | null)?.code;
  return code === "ECONNREFUSED" || code === "ECONNRESET" || code === "EPIPE" || /no answer within/.test(String((err as Error)?.message));
}

export interface RetryOptions {
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  retryIf?: (err: unknown) => boolean;
}

/** Runs `fn` up to `attempts` times, sleeping a uniform random [0, min(cap, base·2^n)) ms between tries. */
export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = opts.attempts ?? 6;
  const base = opts.baseDelayMs ?? 200;
  const cap = opts.maxDelayMs ?? 5_000;
  const retryIf = opts.retryIf ?? transient;
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await fn();
    } catch (err) {
      last = err;
      if (!retryIf(err) || i === attempts - 1) break;
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * Math.min(cap, base * 2 ** i))));
    }
  }
  throw last;
}

/** Waits until `check` resolves true, polling every `everyMs`, failing after `timeoutMs` with `what`, or at once when `abort` gives a reason. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, everyMs = 250, abort: () => string | undefined = () => undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const reason = abort();
    if (reason !== undefined) throw new Error(`gave up waiting for ${what}: ${reason}`);
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
}

/** The REST path of an object (or of its collection when `name` is omitted). */
export function pathOf(apiVersion: string, plural: string, namespace: string | undefined, name?: string): string {
  const prefix = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${prefix}${ns}/${plural}${name ? `/${encodeURIComponent(name)}` : ""}`;
}
