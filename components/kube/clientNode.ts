/**
 * ClusterAccess over `@kubernetes/client-node`, which handles every kubeconfig auth method (client
 * certificates, tokens, exec plugins such as `aws eks get-token`) that hand-rolled HTTP would not.
 *
 * client-node 2.x is ESM-only ("type": "module"). This project compiles to CommonJS, where
 * TypeScript rewrites `import("x")` into `require("x")`; hiding the import in `new Function` keeps
 * it a real dynamic `import()`. Node >= 22.12 could also `require()` it, but the lazy import keeps
 * the package out of start-up and out of Pulumi's closure serialization: a dynamic provider
 * (fork/forkRoutes.ts) captures this code, and the package is loaded where it runs.
 *
 * Errors: client-node (1.x and 2.x) rejects with `ApiException` carrying the HTTP status in `.code` and the
 * API's Status object in `.body` (https://github.com/kubernetes-client/javascript, src/gen/apis/exception.ts).
 */
import type * as k8s from "@kubernetes/client-node";
import type { KubeObject } from "./objects";
import { ConfigError } from "../errors";
import { kubeconfigError, redact } from "./kubeconfig";
import type { JsonPatchOp } from "./jsonPatch";
import { isTransient, notApplied, RETRY_DEFAULTS, statusOf, withRetries } from "./retry";
import { ClusterAccess, SnapshotKind, ConflictError, NotFoundError, PatchRejectedError, UnknownOutcomeError, VirtualService, VS_GROUP, VS_PLURAL, VS_VERSION } from "./vsApi";

type ClientNode = typeof k8s;

/** Loads the ESM package from CommonJS (see the file comment for why not a plain import). */
export function loadClientNode(): Promise<ClientNode> {
  const importEsm = new Function("specifier", "return import(specifier)") as (specifier: string) => Promise<ClientNode>;
  return importEsm("@kubernetes/client-node");
}

function messageOf(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  const parsed = typeof body === "string" ? safeJson(body) : body;
  const message = (parsed as { message?: unknown } | undefined)?.message;
  return redact(typeof message === "string" ? message : err instanceof Error ? err.message : String(err));
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

/** Maps 409 and 404 to our errors; anything else is rethrown as an Error with the API's message. */
function translate(err: unknown, what: string): never {
  const status = statusOf(err);
  if (status === 409) throw new ConflictError(`${what}: ${messageOf(err)}`);
  if (status === 404) throw new NotFoundError(`${what}: ${messageOf(err)}`);
  // The status stays on the error (`code`, as client-node's ApiException has it), so that what
  // reports it can tell a server that kept failing (5xx, 429) from a refusal.
  if (status !== undefined) throw Object.assign(new Error(`${what}: HTTP ${status}: ${messageOf(err)}`), { code: status });
  if (err instanceof Error) throw new Error(prefixed(what, redact(err.message)));
  throw err;
}

/** `what: message`, once: a TimeoutError already starts with what it was doing (kube/retry.ts withTimeout). */
function prefixed(what: string, message: string): string {
  return message.startsWith(`${what}: `) ? message : `${what}: ${message}`;
}

/**
 * What kube-apiserver answers when a JSON Patch does not apply to the stored object (a failed
 * `test`, a missing path): 422 Invalid with this generic message and no causes
 * (apiserver endpoints/handlers/patch.go `applyJSPatch` → apimachinery `NewGenericServerResponse`).
 * Schema or admission failures are 422 too, but name the object and carry causes.
 */
const PATCH_NOT_APPLICABLE = "the server rejected our request due to an error in our request";

function translatePatch(err: unknown, what: string): never {
  if (statusOf(err) === 422 && messageOf(err) === PATCH_NOT_APPLICABLE) {
    throw new PatchRejectedError(`${what}: the object changed since it was read (422: ${PATCH_NOT_APPLICABLE})`);
  }
  if (isTransient(err)) throw new UnknownOutcomeError(`${prefixed(what, messageOf(err))}; it may or may not have been applied`);
  return translate(err, what);
}

/**
 * How long a write to a VirtualService (patch, create, replace, delete) waits for its answer:
 * longer than kube-apiserver's own limit for a request, `--request-timeout`, 1m0s by default
 * (https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/), so the
 * server answers first, with the result or 504. Many forks writing one VirtualService queue in the
 * server, which applies concurrent writes to one object one after another and retries the others
 * itself. With the 30 s reads wait:
 * - an insert still queued was applied after the caller had given up and read again, and the second
 *   insert duplicated the fork's route (`npm run bench -- --only routes --server kube`, 100 forks:
 *   2 routes duplicated);
 * - at 200 forks, guarded patches timed out five times in a row and 180 of 200 changes failed
 *   (each timed-out write also stayed in the server next to its retry, until writes were aborted).
 */
const WRITE_TIMEOUT_MS = 70_000;

/**
 * Attempts of a read (a read is always safe to repeat): with waits doubling from 0.2 s to the 10 s
 * ceiling (full jitter, kube/retry.ts), seven waits of 23 s at most and about 11 s on average, so a
 * read rides out an API server restart of several seconds, where five attempts (1.5 s of waiting
 * on average) failed the update with `listing VirtualServices: fetch failed`.
 */
const READ_ATTEMPTS = 8;

/** How long a call waits for its answer before it is aborted and retried (kube/retry.ts). */
export interface CallTimeouts {
  /** Reads and lists. @default 30000 (RETRY_DEFAULTS.timeoutMs) */
  readonly readMs?: number;
  /** Writes to a VirtualService. @default 70000 */
  readonly writeMs?: number;
  /**
   * A renewal of a turn's Lease, in one attempt: fork/routeTurn.ts renews every third of the
   * Lease's 15 s, and a renewal that took longer than the Lease lasts (five 30 s attempts, as a read
   * gets) would let waiters pass over a holder that is still writing.
   * @default 5000
   */
  readonly renewMs?: number;
}

/**
 * Request options that abort the HTTP request when `signal` fires: client-node hands a request's
 * signal to fetch, which closes the connection (gen/http/isomorphic-fetch.js). The object-style
 * APIs run middleware that returns client-node's Observable (as its own setHeaderOptions does),
 * although their typings say Promise; hence the cast. `more` keeps other options (the patch's
 * Content-Type).
 */
function abortingOn(k: ClientNode, signal: AbortSignal, more: k8s.ConfigurationOptions = {}): k8s.ConfigurationOptions {
  const abort = {
    pre: (request: k8s.RequestContext) => {
      request.setSignal(signal);
      return new k.Observable(Promise.resolve(request));
    },
    post: (response: k8s.ResponseContext) => new k.Observable(Promise.resolve(response)),
  };
  return { ...more, middleware: [...(more.middleware ?? []), abort as unknown as NonNullable<k8s.ConfigurationOptions["middleware"]>[number]], middlewareMergeStrategy: "append" };
}

/** Typed models (V1Service) become the JSON the API returned (dates as RFC 3339 strings). */
function plain<T>(obj: unknown): T {
  return JSON.parse(JSON.stringify(obj)) as T;
}

/** Items of a list response lack apiVersion/kind for some servers; the merge needs them. */
function asVirtualService(item: any): VirtualService {
  return { apiVersion: `${VS_GROUP}/${VS_VERSION}`, kind: "VirtualService", ...item };
}

/** How often a Lease watch (a waiter's wake-up call) is opened again after it ended. */
const WATCH_RESTARTS = 20;

/**
 * Every call has a timeout and is retried on 429, 5xx and reset connections (kube/retry.ts); a
 * create or replace that timed out may have been applied, which is safe: the retry then answers
 * 409 and the read-modify-write (fork/routeSync.ts) reads and merges again.
 *
 * ClusterAccess for the cluster a kubeconfig names. An empty kubeconfig means the ambient one
 * ($KUBECONFIG, ~/.kube/config or the in-cluster service account); `context` defaults to the
 * kubeconfig's current context.
 */
export async function clientNodeAccess(kubeconfig: string, context?: string, timeouts: CallTimeouts = {}): Promise<ClusterAccess> {
  const read = { timeoutMs: timeouts.readMs ?? RETRY_DEFAULTS.timeoutMs, attempts: READ_ATTEMPTS };
  const write = { timeoutMs: timeouts.writeMs ?? WRITE_TIMEOUT_MS };
  const renewal = { timeoutMs: timeouts.renewMs ?? 5000, attempts: 1 };
  const k = await loadClientNode();
  const kc = new k.KubeConfig();
  const source = "kubeconfig (the base stack's kubeconfig output)";
  if (kubeconfig.trim() === "") kc.loadFromDefault();
  else {
    try {
      kc.loadFromString(kubeconfig);
    } catch (err) {
      throw kubeconfigError(err, source);
    }
  }
  if (context !== undefined && context !== "") {
    if (kc.getContextObject(context) === null) {
      const known = kc.getContexts().map((c) => c.name);
      throw new ConfigError("forkstack:cluster.context", context, "is not a context of the kubeconfig", `use one of ${JSON.stringify(known)}`);
    }
    kc.setCurrentContext(context);
  }
  const custom = kc.makeApiClient(k.CustomObjectsApi);
  const core = kc.makeApiClient(k.CoreV1Api);
  const apps = kc.makeApiClient(k.AppsV1Api);
  const policy = kc.makeApiClient(k.PolicyV1Api);
  const networking = kc.makeApiClient(k.NetworkingV1Api);
  const coordination = kc.makeApiClient(k.CoordinationV1Api);
  const listers: Record<SnapshotKind, (namespace: string, signal: AbortSignal) => Promise<{ items?: unknown[] }>> = {
    Service: (namespace, signal) => core.listNamespacedService({ namespace }, abortingOn(k, signal)),
    Deployment: (namespace, signal) => apps.listNamespacedDeployment({ namespace }, abortingOn(k, signal)),
    PodDisruptionBudget: (namespace, signal) => policy.listNamespacedPodDisruptionBudget({ namespace }, abortingOn(k, signal)),
    NetworkPolicy: (namespace, signal) => networking.listNamespacedNetworkPolicy({ namespace }, abortingOn(k, signal)),
    Mapping: (namespace, signal) =>
      custom.listNamespacedCustomObject({ group: "getambassador.io", version: "v3alpha1", plural: "mappings", namespace }, abortingOn(k, signal)) as Promise<{ items?: unknown[] }>,
  };
  const vs = { group: VS_GROUP, version: VS_VERSION, plural: VS_PLURAL };
  const label = (namespace: string | undefined, name: string) => `VirtualService ${namespace ?? "default"}/${name}`;

  async function readOptional(call: (signal: AbortSignal) => Promise<unknown>, what: string): Promise<KubeObject | undefined> {
    try {
      return plain<KubeObject>(await withRetries(what, call, read));
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      return translate(err, what);
    }
  }

  return {
    virtualServices: {
      async list(namespace) {
        try {
          const res = await withRetries(`listing VirtualServices in ${namespace}`, (signal) => custom.listNamespacedCustomObject({ ...vs, namespace }, abortingOn(k, signal)), read);
          return (res.items ?? []).map(asVirtualService);
        } catch (err) {
          return translate(err, `listing VirtualServices in ${namespace}`);
        }
      },
      async listAll() {
        try {
          const res = await withRetries("listing VirtualServices", (signal) => custom.listClusterCustomObject(vs, abortingOn(k, signal)), read);
          return (res.items ?? []).map(asVirtualService);
        } catch (err) {
          return translate(err, "listing VirtualServices");
        }
      },
      async create(body) {
        const namespace = body.metadata.namespace ?? "default";
        try {
          return asVirtualService(await withRetries(`creating ${label(namespace, body.metadata.name)}`, (signal) => custom.createNamespacedCustomObject({ ...vs, namespace, body }, abortingOn(k, signal)), write));
        } catch (err) {
          return translate(err, `creating ${label(namespace, body.metadata.name)}`);
        }
      },
      async replace(body) {
        const namespace = body.metadata.namespace ?? "default";
        try {
          return asVirtualService(await withRetries(`replacing ${label(namespace, body.metadata.name)}`, (signal) => custom.replaceNamespacedCustomObject({ ...vs, namespace, name: body.metadata.name, body }, abortingOn(k, signal)), write));
        } catch (err) {
          return translate(err, `replacing ${label(namespace, body.metadata.name)}`);
        }
      },
      async patch(namespace, name, ops: readonly JsonPatchOp[]) {
        const what = `patching ${label(namespace, name)}`;
        // Repeated here only when it surely was not applied (429, refused connection). Any other
        // failure without an answer is the caller's to resolve by reading again: an insert (no
        // `test`) would apply twice, and a guarded patch that got no answer in time met a server
        // busy with this very object, where the caller's re-read and back-off (fork/routeSync.ts)
        // do better than five more attempts queued behind the same writers (200 forks changing one
        // VirtualService on kube-apiserver: 169 of 200 failed on five 504s in a row).
        try {
          return asVirtualService(
            await withRetries(
              what,
              // client-node 2.x offers json-patch+json and merge-patch+json for this call and picks by
              // its own rules; set the type we mean (its README's patch example does the same).
              (signal) => custom.patchNamespacedCustomObject({ ...vs, namespace, name, body: ops }, abortingOn(k, signal, k.setHeaderOptions("Content-Type", k.PatchStrategy.JsonPatch))),
              { ...write, retryIf: notApplied },
            ),
          );
        } catch (err) {
          return translatePatch(err, what);
        }
      },
      async delete(namespace, name, resourceVersion) {
        try {
          // A delete precondition: the server deletes only the version we decided on
          // (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/delete-options/).
          await withRetries(`deleting ${label(namespace, name)}`, (signal) => custom.deleteNamespacedCustomObject({ ...vs, namespace, name, body: { preconditions: { resourceVersion } } }, abortingOn(k, signal)), write);
        } catch (err) {
          if (statusOf(err) === 404) return;
          translate(err, `deleting ${label(namespace, name)}`);
        }
      },
    },
    // Small objects, written by one fork at a time: the read timeout suffices, but for renewals
    // (`renewMs`, one attempt). A create that timed out and was retried answers 409, which
    // fork/routeTurn.ts reads as "check again".
    leases: {
      get: (namespace, name) => readOptional((signal) => coordination.readNamespacedLease({ namespace, name }, abortingOn(k, signal)), `reading Lease ${namespace}/${name}`),
      async list(namespace, { labelSelector, prefix }) {
        const what = `listing Leases in ${namespace}`;
        try {
          const answer = plain<{ items?: KubeObject[] }>(await withRetries(what, (signal) => coordination.listNamespacedLease({ namespace, labelSelector }, abortingOn(k, signal)), read));
          return (answer.items ?? []).filter((l) => l.metadata.name.startsWith(prefix));
        } catch (err) {
          return translate(err, what);
        }
      },
      async create(body) {
        const namespace = body.metadata.namespace ?? "default";
        const what = `creating Lease ${namespace}/${body.metadata.name}`;
        try {
          return plain<KubeObject>(await withRetries(what, (signal) => coordination.createNamespacedLease({ namespace, body: body as k8s.V1Lease }, abortingOn(k, signal)), read));
        } catch (err) {
          return translate(err, what);
        }
      },
      async replace(body) {
        const namespace = body.metadata.namespace ?? "default";
        const what = `renewing Lease ${namespace}/${body.metadata.name}`;
        try {
          return plain<KubeObject>(await withRetries(what, (signal) => coordination.replaceNamespacedLease({ namespace, name: body.metadata.name, body: body as k8s.V1Lease }, abortingOn(k, signal)), renewal));
        } catch (err) {
          return translate(err, what);
        }
      },
      watch(namespace, name, changed) {
        // Restarted when it ends (client-node's Watch gives up after 30 s without an event, and a
        // server ends a watch on its own), a bounded number of times with a jittered pause.
        let stopped = false;
        let current: AbortController | undefined;
        const open = (restarts: number): void => {
          if (stopped || restarts > WATCH_RESTARTS) return;
          // Not after a 4xx (a fork role without watch, a base of an earlier release: 403): it would answer the same.
          const reopen = (err?: { statusCode?: unknown }) => {
            const status = typeof err?.statusCode === "number" ? err.statusCode : 0;
            if (status < 400 || status >= 500) setTimeout(() => open(restarts + 1), 200 + Math.random() * 800).unref();
          };
          new k.Watch(kc)
            .watch(
              `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`,
              { fieldSelector: `metadata.name=${name}` },
              (phase, lease) => (phase === "ERROR" ? undefined : changed(phase === "DELETED" ? undefined : (lease as KubeObject))),
              reopen,
            )
            .then((c) => (stopped ? c.abort() : (current = c)), reopen);
        };
        open(0);
        return () => {
          stopped = true;
          current?.abort();
        };
      },
      async delete(namespace, name, preconditions) {
        const what = `deleting Lease ${namespace}/${name}`;
        try {
          await withRetries(what, (signal) => coordination.deleteNamespacedLease({ namespace, name, body: { preconditions } }, abortingOn(k, signal)), read);
        } catch (err) {
          if (statusOf(err) === 404) return;
          translate(err, what);
        }
      },
    },
    reader: {
      getService: (namespace, name) => readOptional((signal) => core.readNamespacedService({ namespace, name }, abortingOn(k, signal)), `reading Service ${namespace}/${name}`),
      getDeployment: (namespace, name) => readOptional((signal) => apps.readNamespacedDeployment({ namespace, name }, abortingOn(k, signal)), `reading Deployment ${namespace}/${name}`),
      async list(kind, namespace) {
        try {
          const res = await withRetries(`listing ${kind}s in ${namespace}`, (signal) => listers[kind](namespace, signal), read);
          return plain<KubeObject[]>(res.items ?? []);
        } catch (err) {
          // A kind the cluster does not serve (no Emissary CRDs yet) has no objects to collide with.
          if (statusOf(err) === 404) return [];
          return translate(err, `listing ${kind}s in ${namespace}`);
        }
      },
    },
  };
}
