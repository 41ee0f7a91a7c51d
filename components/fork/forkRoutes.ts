/**
 * ForkRoutes: a fork's named routes in the one shared VirtualService of a Service, written at
 * deploy time with read-modify-write and optimistic concurrency (fork/routeSync.ts).
 *
 * Why a dynamic resource and not a `kubernetes` VirtualService: every fork of a Service writes the
 * same object, and Pulumi's apply would let the last writer erase the others' routes. A dynamic
 * provider runs our own create/update/delete against the API
 * (https://www.pulumi.com/docs/iac/concepts/resources/dynamic-providers/).
 *
 * Dynamic providers are serialized closures, run later in a separate process: the provider's
 * functions capture only the plain functions they call (routeSync, the merge, the access factory),
 * `@kubernetes/client-node` is loaded where they run (kube/clientNode.ts), and the kubeconfig
 * travels in the resource's inputs and state (marked secret), not in a captured variable.
 */
import * as pulumi from "@pulumi/pulumi";
import { getClusterAccess } from "../kube/access";
import { redact } from "../kube/kubeconfig";
import { isTransient } from "../kube/retry";
import { ClusterAccess, VirtualService } from "../kube/vsApi";
import { sweepRetiredWrite } from "./routePatch";
import { applyClaim, releaseClaim, routeDrift, RouteDrift, SyncOptions } from "./routeSync";
import type { ForkRouteClaim } from "./routes";

export const FORK_ROUTES_KIND = "ForkRoutes";

export interface ForkRoutesArgs {
  /** The cluster's kubeconfig (pass it as a secret); empty: the ambient kubeconfig. */
  readonly kubeconfig: pulumi.Input<string>;
  /** kubeconfig context; default: its current context. */
  readonly context?: pulumi.Input<string>;
  readonly forkId: pulumi.Input<string>;
  /** The request header that carries the fork id, e.g. `x-fork-identifier`. */
  readonly headerName: pulumi.Input<string>;
  /** The shared Service whose VirtualService gets the fork's routes. */
  readonly serviceName: pulumi.Input<string>;
  readonly serviceNamespace: pulumi.Input<string>;
  /** FQDN of the fork's copy of the Service, where the fork's requests go. */
  readonly targetHost: pulumi.Input<string>;
  /** The delegate VirtualService the routes go into (`namespace/name`), when the host's delegates; "" otherwise. */
  readonly delegate?: pulumi.Input<string>;
}

/** The resource's plain inputs and state, as the provider sees them. */
export interface ForkRoutesState {
  forkstackKind: typeof FORK_ROUTES_KIND;
  kubeconfig: string;
  context?: string;
  forkId: string;
  headerName: string;
  serviceName: string;
  serviceNamespace: string;
  targetHost: string;
  /** `namespace/name` of the delegate VirtualService the routes go into; "" or absent: the host's own. */
  delegate?: string;
  virtualServiceName?: string;
  virtualServiceNamespace?: string;
  /**
   * What the last create, update or refresh found in the live VirtualService: `in-sync`, or
   * `missing` / `changed` when the fork's routes were removed or edited out of band (a GitOps sync,
   * a `kubectl apply` of the app's VirtualService). `pulumi refresh` shows it changing.
   */
  routes?: RouteDrift;
}

const INPUT_KEYS = ["kubeconfig", "context", "forkId", "headerName", "serviceName", "serviceNamespace", "targetHost", "delegate"] as const;

export function claimOf(s: Pick<ForkRoutesState, "forkId" | "headerName" | "serviceName" | "serviceNamespace" | "targetHost" | "delegate">): ForkRouteClaim {
  const claim: ForkRouteClaim = { forkId: s.forkId, headerName: s.headerName, service: { name: s.serviceName, namespace: s.serviceNamespace }, targetHost: s.targetHost };
  if (s.delegate !== undefined && s.delegate !== "") {
    const [namespace, name] = s.delegate.split("/");
    claim.delegate = { name, namespace };
  }
  return claim;
}

export function where(vs: VirtualService): { virtualServiceName: string; virtualServiceNamespace: string } {
  return { virtualServiceName: vs.metadata.name, virtualServiceNamespace: vs.metadata.namespace ?? "default" };
}

/** Whether the routes now belong in another Service's VirtualService (or another fork's name). */
function movedClaim(olds: ForkRoutesState, news: ForkRoutesState): boolean {
  return olds.serviceName !== news.serviceName || olds.serviceNamespace !== news.serviceNamespace || olds.forkId !== news.forkId || (olds.delegate ?? "") !== (news.delegate ?? "");
}

/**
 * Forks of the Service take turns to write (fork/routeTurn.ts). A write without a turn is safe but
 * slow when many forks write at once, so it is said on the provider's stderr, which the engine shows
 * (https://github.com/pulumi/pulumi/issues/18249): a dynamic provider has no engine log to write to.
 */
function inTurns(access: ClusterAccess, state: ForkRoutesState): SyncOptions {
  const onUnqueued = (why: string) => console.warn(`forkstack: routes of fork "${state.forkId}" for Service ${state.serviceNamespace}/${state.serviceName}: ${why}`);
  return { leases: access.leases, turn: { onUnqueued } };
}

async function apply(state: ForkRoutesState): Promise<ForkRoutesState> {
  const access = await getClusterAccess(state.kubeconfig, state.context);
  const vs = await applyClaim(access.virtualServices, claimOf(state), inTurns(access, state));
  // Verify the write: an admission webhook or a controller may have rewritten the object.
  const after = await routeDrift(access.virtualServices, claimOf(state));
  if (after.drift !== "in-sync") {
    throw new Error(`routes of fork "${state.forkId}" for Service ${state.serviceNamespace}/${state.serviceName} were written but are ${after.drift} when read back; something rewrites VirtualService ${where(vs).virtualServiceNamespace}/${where(vs).virtualServiceName} (an admission webhook or a GitOps controller?)`);
  }
  return { ...state, ...where(vs), routes: "in-sync" };
}

async function drift(state: ForkRoutesState): Promise<RouteDrift> {
  return (await live(state)).drift;
}

/** The fork's routes as they stand, and whether the VirtualService holds routes forks left behind (retired). */
async function live(state: ForkRoutesState): Promise<{ drift: RouteDrift; retired: boolean }> {
  const access = await getClusterAccess(state.kubeconfig, state.context);
  const { drift: found, virtualService } = await routeDrift(access.virtualServices, claimOf(state));
  return { drift: found, retired: virtualService !== undefined && sweepRetiredWrite(virtualService, state.headerName).kind !== "none" };
}

async function release(state: ForkRoutesState): Promise<void> {
  const access = await getClusterAccess(state.kubeconfig, state.context);
  await releaseClaim(access.virtualServices, claimOf(state), inTurns(access, state));
}

/**
 * What the engine is told when a provider call fails: one line that says what was being done, what
 * went wrong and, for a server that kept failing, what to do. The dynamic provider host reports only
 * an Error's message: anything else thrown becomes "Unknown Error" (seen once in the e2e tier,
 * destroying two forks of one VirtualService at once). Our error classes, serialized with the
 * provider, are functions of their own there (`__f28`), not Errors of its realm; each sets its
 * `message` itself so that it survives, and one that has none is told by its name and fields.
 */
export function asError(err: unknown, what: string): Error {
  let text: string;
  const message = (err as { message?: unknown } | null | undefined)?.message;
  const name = (err as { name?: unknown } | null | undefined)?.name;
  if (typeof message === "string" && message !== "") {
    text = message;
  } else {
    let fields: string;
    try {
      fields = JSON.stringify(err) ?? String(err);
    } catch {
      fields = String(err);
    }
    text = typeof name === "string" && name !== "" ? `${name} ${fields}` : `failed with ${fields}`;
  }
  text = redact(text).replace(/\s*\n\s*/g, " ").slice(0, 2000);
  if (!text.startsWith(what)) text = `${what}: ${text}`;
  if (isTransient(err) && !/run the update again/.test(text)) text += "; the API server kept failing through every retry (overloaded or restarting): run the update again";
  if (err instanceof Error && err.message === text) return err;
  const out = new Error(text);
  if (typeof name === "string" && name !== "") out.name = name;
  return out;
}

/** Runs one provider call, turning whatever it throws into an Error that says what failed. */
async function reported<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw asError(err, what);
  }
}

export const forkRoutesProvider: pulumi.dynamic.ResourceProvider = {
  async diff(_id: string, olds: ForkRoutesState, news: ForkRoutesState): Promise<pulumi.dynamic.DiffResult> {
    // Update in place on any change: the routes are rewritten by name, never replaced wholesale.
    // Absent and "" are the same (state written before an input existed).
    if (INPUT_KEYS.some((k) => (olds[k] ?? "") !== (news[k] ?? ""))) return { changes: true, replaces: [], deleteBeforeReplace: false };
    // Same inputs: the live VirtualService decides. A route removed or changed out of band is a
    // change, so `pulumi up` restores it even without a refresh first; so are routes other forks
    // left retired there (their removal failed), which the update sweeps (routeSync.applyClaim).
    const now = await reported(`checking routes of fork "${news.forkId}"`, () => live(news));
    return { changes: now.drift !== "in-sync" || now.retired, replaces: [], deleteBeforeReplace: false };
  },
  async read(id: string, props: ForkRoutesState): Promise<pulumi.dynamic.ReadResult> {
    // `pulumi refresh`: record what the live VirtualService holds, so a missing route shows.
    return { id, props: { ...props, routes: await reported(`reading routes of fork "${props.forkId}"`, () => drift(props)) } };
  },
  async create(inputs: ForkRoutesState): Promise<pulumi.dynamic.CreateResult> {
    const outs = await reported(`adding routes of fork "${inputs.forkId}"`, () => apply(inputs));
    return { id: `${inputs.serviceNamespace}/${inputs.serviceName}/${inputs.forkId}`, outs };
  },
  async update(_id: string, olds: ForkRoutesState, news: ForkRoutesState): Promise<pulumi.dynamic.UpdateResult> {
    // Apply the new routes first, then take the old ones out: requests keep a route throughout.
    const outs = await reported(`updating routes of fork "${news.forkId}"`, () => apply(news));
    if (movedClaim(olds, news)) await reported(`removing routes of fork "${olds.forkId}"`, () => release(olds));
    return { outs };
  },
  async delete(_id: string, props: ForkRoutesState): Promise<void> {
    await reported(`removing routes of fork "${props.forkId}"`, () => release(props));
  },
};

export class ForkRoutes extends pulumi.dynamic.Resource {
  // `declare`: the SDK fills outputs in during super(); with ES2022 class fields a plain field
  // declaration would reset them to undefined right after.
  declare public readonly virtualServiceName: pulumi.Output<string>;
  declare public readonly virtualServiceNamespace: pulumi.Output<string>;

  constructor(name: string, args: ForkRoutesArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      forkRoutesProvider,
      name,
      { forkstackKind: FORK_ROUTES_KIND, ...args, context: args.context ?? "", delegate: args.delegate ?? "", virtualServiceName: undefined, virtualServiceNamespace: undefined, routes: undefined },
      // The kubeconfig stays in the state (delete needs it); keep it encrypted there.
      { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "kubeconfig"] },
    );
  }
}
