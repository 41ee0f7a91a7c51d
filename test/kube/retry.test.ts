/** Retries, timeouts and redaction of every Kubernetes call (components/kube/retry.ts, kubeconfig.ts). */
import { kubeconfigError, redact } from "../../components/kube/kubeconfig";
import * as jsYaml from "js-yaml";
import { isTransient, notApplied, retryAfterMs, TimeoutError, withRetries } from "../../components/kube/retry";

/** An error shaped like client-node's ApiException. */
const api = (code: number, headers: Record<string, string> = {}) => Object.assign(new Error(`HTTP ${code}`), { code, headers });
const reset = () => Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });

/** A call that fails with the given errors, then answers "ok". */
function failing(...errors: Error[]) {
  let calls = 0;
  const call = async () => {
    calls++;
    if (calls <= errors.length) throw errors[calls - 1];
    return "ok";
  };
  return { call, calls: () => calls };
}

describe("withRetries", () => {
  const waits: number[] = [];
  const opts = { sleep: async (ms: number) => void waits.push(ms), random: () => 0.5 };
  beforeEach(() => (waits.length = 0));

  it.each([429, 500, 502, 503, 504])("retries an HTTP %i answer", async (code) => {
    expect(await withRetries("x", failing(api(code)).call, opts)).toBe("ok");
  });

  it("retries a reset connection", async () => {
    expect(await withRetries("x", failing(reset()).call, opts)).toBe("ok");
  });

  it("does not retry a 409 Conflict (the read-modify-write handles it)", async () => {
    const f = failing(api(409));
    await expect(withRetries("x", f.call, opts)).rejects.toThrow("HTTP 409");
    expect(f.calls()).toBe(1);
  });

  it("does not retry a 403", async () => {
    const f = failing(api(403));
    await expect(withRetries("x", f.call, opts)).rejects.toThrow("HTTP 403");
    expect(f.calls()).toBe(1);
  });

  it("gives up after the bounded number of attempts", async () => {
    const f = failing(...Array.from({ length: 10 }, () => api(503)));
    await expect(withRetries("x", f.call, { ...opts, attempts: 4 })).rejects.toThrow("HTTP 503");
    expect(f.calls()).toBe(4);
  });

  it("waits with jitter under a doubling ceiling", async () => {
    await withRetries("x", failing(api(503), api(503), api(503)).call, { ...opts, baseDelayMs: 100 });
    expect(waits).toEqual([50, 100, 200]);
  });

  it("waits at least the server's Retry-After", async () => {
    await withRetries("x", failing(api(429, { "retry-after": "3" })).call, opts);
    expect(waits).toEqual([3000]);
  });

  it("times out a call that never answers and retries it", async () => {
    let calls = 0;
    const call = () => (++calls === 1 ? new Promise<string>(() => undefined) : Promise.resolve("ok"));
    expect(await withRetries("x", call, { ...opts, timeoutMs: 20 })).toBe("ok");
  });

  it("aborts the signal of the attempt that timed out, and only that one", async () => {
    const signals: AbortSignal[] = [];
    const call = (signal: AbortSignal) => (signals.push(signal), signals.length === 1 ? new Promise<string>(() => undefined) : Promise.resolve("ok"));
    expect([await withRetries("x", call, { ...opts, timeoutMs: 20 }), signals.map((s) => s.aborted), (signals[0].reason as Error).name]).toEqual(["ok", [true, false], "TimeoutError"]);
  });

  it("says which call timed out", async () => {
    await expect(withRetries("listing VirtualServices", () => new Promise(() => undefined), { ...opts, timeoutMs: 10, attempts: 1 })).rejects.toThrow(
      "listing VirtualServices: no answer within 0.01 s",
    );
  });
});

describe("a call that may only be repeated when it surely had no effect (retryIf: notApplied)", () => {
  const opts = { sleep: async () => undefined, retryIf: notApplied };

  it("is repeated after a 429 or a refused connection", async () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    expect([await withRetries("x", failing(api(429)).call, opts), await withRetries("x", failing(refused).call, opts)]).toEqual(["ok", "ok"]);
  });

  it.each([
    ["a 503", api(503)],
    ["a reset connection", reset()],
    ["a timeout", new TimeoutError("x", 1)],
  ])("is not repeated after %s, which may come after the server applied it", async (_what, err) => {
    const f = failing(err);
    await expect(withRetries("x", f.call, opts)).rejects.toBe(err);
    expect(f.calls()).toBe(1);
  });
});

describe("isTransient and retryAfterMs", () => {
  it("counts a timeout as transient", () => {
    expect(isTransient(new TimeoutError("x", 1))).toBe(true);
  });

  it("finds a reset in the cause of a fetch error", () => {
    expect(isTransient(Object.assign(new TypeError("fetch failed"), { cause: reset() }))).toBe(true);
  });

  it("reads Retry-After given as an HTTP date", () => {
    expect(retryAfterMs(api(429, { "Retry-After": "Tue, 01 Dec 2026 07:00:05 GMT" }), Date.parse("2026-12-01T07:00:00Z"))).toBe(5000);
  });
});

describe("credentials never reach a message", () => {
  const kubeconfig = ["apiVersion: v1", "users:", "- name: dev", "  user:", "    token: eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu", "   bad: [indent", "clusters: []"].join("\n");

  it("says where a malformed kubeconfig is wrong without quoting it", () => {
    // The parser client-node uses (KubeConfig.loadFromString calls js-yaml's load).
    let parserError: unknown;
    try {
      jsYaml.load(kubeconfig);
    } catch (err) {
      parserError = err;
    }
    expect((parserError as Error).message).toContain("eyJhbGci");
    const message = kubeconfigError(parserError, "kubeconfig").message;
    expect([message.startsWith('kubeconfig: "[kubeconfig, not shown]" is not valid YAML at line 6'), message.includes("eyJhbGci")]).toEqual([true, false]);
  });

  it("redacts a token in an error text", () => {
    expect(redact('error parsing: token: "eyJhbGciOiJSUzI1NiJ9.abc" at line 5')).toBe("error parsing: token: [redacted] at line 5");
  });

  it("redacts a bearer credential", () => {
    expect(redact("Authorization: Bearer abc.def-123 was refused")).toBe("Authorization: Bearer [redacted] was refused");
  });

  it("redacts client key data", () => {
    expect(redact("client-key-data: LS0tLS1CRUdJTi")).toBe("client-key-data: [redacted]");
  });
});
