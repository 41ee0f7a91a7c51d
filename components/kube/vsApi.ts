/**
 * The narrow view of the Kubernetes API that fork routing needs. Live code reaches it through
 * `@kubernetes/client-node` (clientNode.ts); the offline render and the tests through a simulated
 * cluster (render/simulatedApi.ts). Keeping it this small lets the read-modify-write loop
 * (fork/routeSync.ts) be tested without a cluster.
 */
import type { JsonPatchOp } from "./jsonPatch";
import type { KubeObject } from "./objects";
import { errorNamed } from "./retry";

/** A networking.istio.io VirtualService as the API server returns it. */
export type VirtualService = KubeObject;

/**
 * HTTP 409: the object changed since it was read (`metadata.resourceVersion` mismatch, reason
 * `Conflict`) or it already exists (reason `AlreadyExists`). Either way: read again and retry.
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions
 */
export class ConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConflictError";
    this.message = message; // kept when serialized into a dynamic provider (fork/forkRoutes.ts asError)
  }
}

/**
 * A JSON Patch that no longer applies: one of its `test`s failed, or a path it names is gone,
 * because the object changed since it was read. The API server answers 422 Invalid, "the server
 * rejected our request due to an error in our request" (apiserver handlers/patch.go,
 * `applyJSPatch`), and changes nothing. Like a 409 it means "read again and retry", so it is a
 * ConflictError.
 */
export class PatchRejectedError extends ConflictError {
  constructor(message: string) {
    super(message);
    this.name = "PatchRejectedError";
    this.message = message; // kept when serialized into a dynamic provider (fork/forkRoutes.ts asError)
  }
}

/**
 * A write that may or may not have been applied (it timed out, the connection dropped, or the
 * server answered 5xx) and may not simply be sent again: read the object to see.
 */
export class UnknownOutcomeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnknownOutcomeError";
    this.message = message; // kept when serialized into a dynamic provider (fork/forkRoutes.ts asError)
  }
}

/** HTTP 404: the object does not exist (any more). */
export class NotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NotFoundError";
    this.message = message; // kept when serialized into a dynamic provider (fork/forkRoutes.ts asError)
  }
}

// Told apart by name, not instanceof (kube/retry.ts errorNamed says why).
/** A 409 or a rejected patch: read again and retry. */
export const isConflict = (err: unknown): boolean => errorNamed(err, "ConflictError", "PatchRejectedError");
/** A 404. */
export const isNotFound = (err: unknown): boolean => errorNamed(err, "NotFoundError");
/** A write that may or may not have been applied. */
export const isUnknownOutcome = (err: unknown): boolean => errorNamed(err, "UnknownOutcomeError");

export interface VirtualServiceApi {
  /** All VirtualServices in a namespace. */
  list(namespace: string): Promise<VirtualService[]>;
  /** All VirtualServices in every namespace (a host may be claimed from any namespace). */
  listAll(): Promise<VirtualService[]>;
  /** Creates; rejects with ConflictError when it already exists. */
  create(vs: VirtualService): Promise<VirtualService>;
  /**
   * Replaces (PUT) with the `metadata.resourceVersion` it was read at; rejects with ConflictError
   * when someone wrote it since, NotFoundError when it was deleted.
   */
  replace(vs: VirtualService): Promise<VirtualService>;
  /**
   * Applies a JSON Patch (RFC 6902, `application/json-patch+json`) to the object as it is on the
   * server, atomically, without a resourceVersion precondition: the patch's own `test`s say what
   * must still hold. Rejects with PatchRejectedError when they do not, NotFoundError when the
   * object is gone. A patch is sent again only when it surely was not applied: when its outcome
   * is unknown (no answer in time, a reset, 5xx) it rejects with UnknownOutcomeError, and the
   * caller reads the object to see.
   */
  patch(namespace: string, name: string, ops: readonly JsonPatchOp[]): Promise<VirtualService>;
  /** Deletes if still at `resourceVersion` (a delete precondition); ConflictError if not; gone already is fine. */
  delete(namespace: string, name: string, resourceVersion: string): Promise<void>;
}

/** Kinds a fork's plan reads from the cluster (kube/snapshot.ts). */
export type SnapshotKind = "Service" | "Deployment" | "PodDisruptionBudget" | "NetworkPolicy" | "Mapping";

/** Reads for a fork's plan: the objects it copies, checks names against and must keep isolated. */
export interface ClusterReader {
  getService(namespace: string, name: string): Promise<KubeObject | undefined>;
  getDeployment(namespace: string, name: string): Promise<KubeObject | undefined>;
  /** Every object of the kind in the namespace (an API the cluster does not serve: none). */
  list(kind: SnapshotKind, namespace: string): Promise<KubeObject[]>;
}

/** A coordination.k8s.io/v1 Lease as the API server returns it. */
export type Lease = KubeObject;

/**
 * The Leases fork routing takes turns with (fork/routeTurn.ts), in the namespaces forks may write.
 * Only the calls a turn needs; every one may reject with an Error carrying the HTTP status (403 when
 * the fork group may not use Leases).
 */
export interface LeaseApi {
  /** The Lease, or undefined when there is none. */
  get(namespace: string, name: string): Promise<Lease | undefined>;
  /** The Leases in the namespace that match `labelSelector` and whose names start with `prefix`. */
  list(namespace: string, which: { readonly labelSelector: string; readonly prefix: string }): Promise<Lease[]>;
  /** Creates; rejects with ConflictError when one of that name exists. */
  create(lease: Lease): Promise<Lease>;
  /** Replaces at the `metadata.resourceVersion` it was read at; ConflictError when it changed, NotFoundError when it is gone. */
  replace(lease: Lease): Promise<Lease>;
  /** Deletes if the precondition holds (ConflictError if not); gone already is fine. */
  delete(namespace: string, name: string, preconditions: { uid?: string; resourceVersion?: string }): Promise<void>;
  /**
   * Calls `changed` with the Lease whenever it is created or changed (undefined once deleted), until
   * the returned function is called: a waiter's wake-up call, so that a turn handed to it is taken
   * at once. Best effort (a watch that fails or ends is only a missed wake-up: waiters check on
   * their own too); absent where there is nothing to watch.
   */
  watch?(namespace: string, name: string, changed: (lease: Lease | undefined) => void): () => void;
}

export interface ClusterAccess {
  virtualServices: VirtualServiceApi;
  reader: ClusterReader;
  /** Absent where there is no server to queue at (the offline render): forks then write without a turn. */
  leases?: LeaseApi;
}

/** VirtualServices are served at networking.istio.io/v1 since Istio 1.22. */
export const VS_GROUP = "networking.istio.io";
export const VS_VERSION = "v1";
export const VS_PLURAL = "virtualservices";
