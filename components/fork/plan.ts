/**
 * planFork: every decision a fork makes, in one pure function. It takes the validated fork config,
 * the base stack's outputs and a snapshot of the cluster (kube/snapshot.ts) and returns either the
 * whole fork as plain objects — what to copy and under which names, which labels change, which
 * VirtualService gets which route, every Mapping — or a refusal: one ConfigError naming the field,
 * the value and the way out. Nothing is registered before the plan exists, so a refused fork
 * creates nothing. ForkStack registers exactly what the plan says; the offline render and explain
 * run the same plan (through the real program) and the same coverage rule (fork/routes.ts).
 *
 * The isolation promise it keeps: a fork never changes what anyone else sees.
 * - No shared Service, PodDisruptionBudget or NetworkPolicy selects a copy's pods: every label any
 *   of them pins gets a fork value, and a selector that still matches is refused by name.
 * - One copy per shared Deployment, shared by every forked Service over it (issue 15).
 * - Every name the fork creates is checked against what exists; a fork id another stack owns is refused.
 * - No fork host equals a shared host or another fork's; no Mapping name is reused.
 * - Routes go only where forkstack can place them without touching shared traffic (fork/routes.ts).
 * - No copy whose pods the base's admission policy would refuse (Pod Security baseline, a Secret its
 *   namespace does not list, the container ceiling): refused here, before anything exists (fork/podRules.ts).
 */
import { BaseOutputs, ForkConfig, ForkService, ServiceAccountRule, ServiceRef } from "../config";
import { ConfigError } from "../errors";
import { forkMapping } from "../mappings";
import type { KubeObject } from "../kube/objects";
import { objectRef, selecting } from "../kube/selectors";
import { forkHost, forkUrl, LABELS, mappingName, serviceFqdn, virtualServiceName } from "../naming";
import { checkServiceFrontsDeployment, copyDeployment, copyService, forkPodLabels } from "./copy";
import { copyPodProblem } from "./podRules";
import { addForkRoutes, delegateOf, findVirtualService, ForkRouteClaim, placeRoutes, RouteRefusal } from "./routes";

export interface PlanInput {
  readonly fork: ForkConfig;
  readonly base: BaseOutputs;
  /** The snapshot: Services, Deployments, PDBs, NetworkPolicies of the forked namespaces, Mappings of the gateway namespace, every VirtualService. */
  readonly cluster: readonly KubeObject[];
  /** `project/stack` of the stack planning the fork; recorded on what it creates. */
  readonly owner: string;
  /** When the fork counts as expired (ISO 8601). */
  readonly expiresAt?: string;
}

/** A Kubernetes object the fork creates, with the Pulumi logical name that is its identity. */
export interface PlannedObject {
  readonly key: string;
  readonly object: KubeObject;
  /** Logical names the same object had in earlier forkstack versions (Pulumi aliases, so it is updated in place). */
  readonly aliases?: readonly string[];
}

export interface PlannedRoute {
  readonly key: string;
  readonly claim: ForkRouteClaim;
  /** Keys of the copies the route sends to: it goes in after them and comes out before them. */
  readonly needs: readonly string[];
  /** The VirtualService it goes into, `namespace/name`; undefined: forkstack creates one. */
  readonly virtualService?: string;
}

/** A service the fork copied, as the stack reports it. */
export interface CopiedService {
  /** The shared Service, `name.namespace`. */
  readonly service: string;
  /** The fork's copy, `name.namespace`. */
  readonly copy: string;
  /** The fork's copy of the Deployment behind it, `name.namespace`. */
  readonly deployment: string;
  /** The image the copy runs, when the fork replaced it. */
  readonly image?: string;
}

export interface ForkPlan {
  readonly forkId: string;
  readonly owner: string;
  readonly deployments: readonly PlannedObject[];
  readonly services: readonly PlannedObject[];
  readonly routes: readonly PlannedRoute[];
  readonly mappings: readonly PlannedObject[];
  readonly urls: Readonly<Record<string, string>>;
  readonly copies: readonly CopiedService[];
}

export type PlanResult = { readonly ok: true; readonly plan: ForkPlan } | { readonly ok: false; readonly refusal: ConfigError };

const FIELD = "forkstack:fork";
const nsOf = (o: KubeObject) => o.metadata.namespace ?? "default";
const find = (objects: readonly KubeObject[], kind: string, namespace: string, name: string) =>
  objects.find((o) => o.kind === kind && nsOf(o) === namespace && o.metadata.name === name);
/** An object some fork created (copies and Mappings carry LABELS.fork). */
const forkOfObject = (o: KubeObject) => o.metadata.labels?.[LABELS.fork];
const stackOfObject = (o: KubeObject) => o.metadata.annotations?.[LABELS.stack];

/** Plans the fork, or refuses it in one line. Pure: no I/O, no Pulumi. */
export function planFork(input: PlanInput): PlanResult {
  try {
    return { ok: true, plan: plan(input) };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, refusal: err };
    throw err;
  }
}

/** planFork for callers that stop on a refusal: throws its ConfigError. */
export function planForkOrThrow(input: PlanInput): ForkPlan {
  const result = planFork(input);
  if (!result.ok) throw result.refusal;
  return result.plan;
}

function plan(input: PlanInput): ForkPlan {
  const { fork, base, owner } = input;
  // Fork objects of this stack only: copies of other forks never count as shared selectors.
  const shared = input.cluster.filter((o) => forkOfObject(o) === undefined);
  checkForkIdOwner(input);

  const services: PlannedObject[] = [];
  const deployments = new Map<string, { planned: PlannedObject; services: number[] }>();
  const routes: PlannedRoute[] = [];
  const copies: CopiedService[] = [];

  // Only where the platform team allows forks (forkstack:forkAccess.namespaces of the base); the
  // API server's admission policy refuses the rest too, but later and less clearly.
  fork.services.forEach((s, i) => {
    if (!(s.namespace in base.forkNamespaces)) {
      const allowed = Object.keys(base.forkNamespaces).sort();
      throw new ConfigError(
        `${FIELD}.services[${i}].namespace`,
        s.namespace,
        "is not a forkable namespace of the base stack",
        allowed.length === 0
          ? "the base stack allows forks in no namespace: ask the platform team to list it under forkstack:forkAccess.namespaces"
          : `fork a service in ${allowed.join(", ")}, or ask the platform team to add ${s.namespace} to forkstack:forkAccess.namespaces`,
      );
    }
  });

  // Every forked Service over one Deployment shares one copy of it (issue 15).
  const forked = fork.services.map((s) => resolveDeployment(shared, s));
  const byDeployment = new Map<string, number[]>();
  forked.forEach((s, i) => {
    const k = `${s.namespace}/${s.deployment}`;
    byDeployment.set(k, [...(byDeployment.get(k) ?? []), i]);
  });

  for (const [, indexes] of byDeployment) {
    const first = forked[indexes[0]];
    const dep = find(shared, "Deployment", first.namespace, first.deployment);
    const svcs = indexes.map((i) => serviceOf(shared, forked[i], i));
    if (dep === undefined) {
      const f = `${FIELD}.services[${indexes[0]}].deployment`;
      throw new ConfigError(f, `${first.deployment}.${first.namespace}`, "is not a Deployment in the shared cluster", `name the Deployment behind Service ${first.name} (kubectl get deployments -n ${first.namespace})`);
    }
    indexes.forEach((i, n) => checkServiceFrontsDeployment(svcs[n], dep, `${FIELD}.services[${i}]`));
    const settings = mergedSettings(forked, indexes);
    checkReplicas(settings.replicas, base, indexes[0]);

    // Every shared selector that picks the Deployment's pods: the forked Services, a second Service
    // (metrics, gRPC), PodDisruptionBudgets and NetworkPolicies. Each label any of them pins gets a
    // fork value on the copy's pods.
    const templateLabels = ((dep.spec as any)?.template?.metadata?.labels ?? {}) as Record<string, string>;
    const selectingShared = selecting(shared, first.namespace, templateLabels);
    const podLabels = forkPodLabels(svcs[0], dep, fork.id, selectingShared);
    const stillSelecting = selecting(shared, first.namespace, { ...templateLabels, ...podLabels });
    if (stillSelecting.length > 0) {
      const o = stillSelecting[0];
      throw new ConfigError(
        `${FIELD}.services[${indexes[0]}].deployment`,
        `${first.deployment}.${first.namespace}`,
        `cannot be copied safely: ${objectRef(o)} would still select the copy's pods (its selector ${JSON.stringify((o.spec as any)?.selector ?? (o.spec as any)?.podSelector)} does not pin a label forkstack can change)`,
        `give ${objectRef(o)} a matchLabels or In selector on a label of the pods, or do not fork this Deployment`,
      );
    }

    const serviceAccount = copyServiceAccount(dep, base.forkNamespaces[first.namespace]);
    const opts = { forkId: fork.id, image: settings.image, env: settings.env, replicas: settings.replicas, expiresAt: input.expiresAt, selecting: selectingShared, owner, serviceAccount };
    const depCopy = copyDeployment(dep, svcs[0], opts);
    // The copy as it would be sent, judged as the API server's admission policy would judge it.
    const pods = copyPodProblem(depCopy, { secrets: base.forkSecrets[first.namespace], maxContainerResources: base.maxContainerResources });
    if (pods !== undefined) throw new ConfigError(`${FIELD}.services[${indexes[0]}].deployment`, `${first.deployment}.${first.namespace}`, pods.problem, pods.fix);
    checkNameFree(input, "Deployment", first.namespace, depCopy.metadata.name, `${FIELD}.services[${indexes[0]}].deployment`, `${first.deployment}.${first.namespace}`);
    const depKey = `${fork.id}-${first.namespace}-${first.deployment}-deployment`;
    // Before one copy per Deployment, the copy was keyed by its (first) forked Service.
    const legacyKey = `${fork.id}-${first.namespace}-${first.name}-deployment`;
    const depPlanned: PlannedObject = { key: depKey, object: depCopy, ...(legacyKey !== depKey ? { aliases: [legacyKey] } : {}) };
    deployments.set(depKey, { planned: depPlanned, services: indexes });

    indexes.forEach((i, n) => {
      const s = forked[i];
      const svcCopy = copyService(svcs[n], dep, opts);
      checkNameFree(input, "Service", s.namespace, svcCopy.metadata.name, `${FIELD}.services[${i}].name`, `${s.name}.${s.namespace}`);
      const svcKey = `${fork.id}-${s.namespace}-${s.name}-service`;
      services.push({ key: svcKey, object: svcCopy });
      copies.push({ service: `${s.name}.${s.namespace}`, copy: `${svcCopy.metadata.name}.${s.namespace}`, deployment: `${depCopy.metadata.name}.${s.namespace}`, image: settings.image });
      const plain: ForkRouteClaim = { forkId: fork.id, headerName: base.headerName, service: { name: s.name, namespace: s.namespace }, targetHost: serviceFqdn(svcCopy.metadata.name, s.namespace) };
      const { claim, virtualService } = routeTarget(input, plain, i);
      routes.push({ key: `${fork.id}-${s.namespace}-${s.name}-routes`, claim, needs: [depPlanned.key, svcKey], virtualService });
    });
  }

  // Service copies in config order (the order users read their fork in).
  const order = (key: string) => fork.services.findIndex((s) => key === `${fork.id}-${s.namespace}-${s.name}-service`);
  services.sort((a, b) => order(a.key) - order(b.key));
  const copyOrder = (c: CopiedService) => fork.services.findIndex((s) => c.service === `${s.name}.${s.namespace}`);
  copies.sort((a, b) => copyOrder(a) - copyOrder(b));
  routes.sort((a, b) => order(a.key.replace(/-routes$/, "-service")) - order(b.key.replace(/-routes$/, "-service")));

  const copyOf = new Map(fork.services.map((s, i) => [`${s.namespace}/${s.name}`, services.find((p) => p.key === `${fork.id}-${s.namespace}-${s.name}-service`)!.object.metadata.name]));
  const mappings = planMappings(input, copyOf);
  return {
    forkId: fork.id,
    owner,
    deployments: [...deployments.values()].map((d) => d.planned),
    services,
    routes,
    mappings,
    urls: Object.fromEntries(base.upstreams.map((u) => [u.host, forkUrl(fork.id, u.host, base.hostScheme)])),
    copies,
  };
}

/**
 * A service without `deployment:` whose name no Deployment has: the one shared Deployment whose pods
 * its selector picks (a gRPC Service `api-grpc` over Deployment `api`). Left as it is otherwise, so
 * a missing or ambiguous Deployment is refused by name below.
 */
/**
 * The ServiceAccount a copy runs as: the shared Deployment's own where the namespace's rule is
 * `shared` or lists it; else the first one the rule names (a low-privilege account the platform
 * team provides), so the copy never runs with rights the namespace keeps from forks.
 */
function copyServiceAccount(dep: KubeObject, rule: ServiceAccountRule): string | undefined {
  if (rule === "shared") return undefined;
  const own = ((dep.spec as any)?.template?.spec?.serviceAccountName as string | undefined) ?? "default";
  return rule.includes(own) ? undefined : rule[0];
}

function resolveDeployment(shared: readonly KubeObject[], s: ForkService): ForkService {
  if (s.deploymentGiven === true || find(shared, "Deployment", s.namespace, s.deployment) !== undefined) return s;
  const svc = find(shared, "Service", s.namespace, s.name);
  const selector = ((svc?.spec as any)?.selector ?? {}) as Record<string, string>;
  if (Object.keys(selector).length === 0) return s;
  const candidates = shared.filter(
    (o) => o.kind === "Deployment" && nsOf(o) === s.namespace && Object.entries(selector).every(([k, v]) => (o.spec as any)?.template?.metadata?.labels?.[k] === v),
  );
  return candidates.length === 1 ? { ...s, deployment: candidates[0].metadata.name } : s;
}

function serviceOf(shared: readonly KubeObject[], s: ForkService, i: number): KubeObject {
  const svc = find(shared, "Service", s.namespace, s.name);
  if (svc === undefined) {
    throw new ConfigError(`${FIELD}.services[${i}].name`, `${s.name}.${s.namespace}`, "is not a Service in the shared cluster", `check the name and namespace (kubectl get services -n ${s.namespace})`);
  }
  return svc;
}

/** Services over one Deployment run one copy: their image and env must agree; replicas: the largest. */
function mergedSettings(all: readonly ForkService[], indexes: readonly number[]): { image?: string; env: Record<string, string>; replicas: number } {
  let image: string | undefined;
  let imageFrom = -1;
  const env: Record<string, string> = {};
  const envFrom: Record<string, number> = {};
  let replicas = 0;
  for (const i of indexes) {
    const s = all[i];
    if (s.image !== undefined) {
      if (image !== undefined && image !== s.image) {
        throw new ConfigError(`${FIELD}.services[${i}].image`, s.image, `differs from ${FIELD}.services[${imageFrom}].image ("${image}"), and both Services run on the one copy of Deployment ${s.namespace}/${s.deployment}`, "give both the same image, or set it on one of them only");
      }
      image = s.image;
      imageFrom = i;
    }
    for (const [k, v] of Object.entries(s.env)) {
      if (env[k] !== undefined && env[k] !== v) {
        throw new ConfigError(`${FIELD}.services[${i}].env.${k}`, v, `differs from ${FIELD}.services[${envFrom[k]}].env.${k} ("${env[k]}") for the one copy of Deployment ${s.namespace}/${s.deployment}`, "give both the same value, or set it on one of them only");
      }
      env[k] = v;
      envFrom[k] = i;
    }
    replicas = Math.max(replicas, s.replicas);
  }
  return { image, env, replicas };
}

function checkReplicas(replicas: number, base: BaseOutputs, i: number): void {
  if (replicas > base.maxForkReplicas) {
    throw new ConfigError(`${FIELD}.services[${i}].replicas`, replicas, `is more than the base stack allows (forkstack:maxForkReplicas = ${base.maxForkReplicas})`, `use at most ${base.maxForkReplicas}, or ask the base stack's owners to raise forkstack:maxForkReplicas`);
  }
}

/**
 * A fork id belongs to one stack: objects of the fork carry LABELS.stack, and another stack's are
 * refused, so two stacks (a copied Pulumi.<stack>.yaml) never fight over the same routes, copies
 * and Mappings. Objects without the annotation (made before forkstack recorded it) are adopted.
 */
function checkForkIdOwner(input: PlanInput): void {
  for (const o of input.cluster) {
    const other = stackOfObject(o);
    if (forkOfObject(o) === input.fork.id && other !== undefined && other !== input.owner) {
      throw new ConfigError(
        `${FIELD}.id`,
        input.fork.id,
        `is already used by stack ${other} (${objectRef(o)}), not by this stack ${input.owner}`,
        `choose another fork id, or run \`pulumi destroy\` on stack ${other} first`,
      );
    }
  }
}

/** Refuses a name the fork would create that an object it does not own already holds. */
function checkNameFree(input: PlanInput, kind: string, namespace: string, name: string, field: string, value: string): void {
  const existing = find(input.cluster, kind, namespace, name);
  if (existing === undefined) return;
  const fork = forkOfObject(existing);
  const stack = stackOfObject(existing);
  if (fork === input.fork.id && (stack === undefined || stack === input.owner)) return;
  const managedBy = existing.metadata.labels?.["app.kubernetes.io/managed-by"];
  const owner =
    fork !== undefined ? `fork "${fork}"${stack !== undefined ? ` (stack ${stack})` : ""} owns`
    : `already exists and is not a fork's copy${managedBy !== undefined ? ` (managed by ${managedBy})` : ""}`;
  const way = kind === "Deployment" ? "choose another fork id, or name another Deployment with `deployment:`" : "choose another fork id";
  throw new ConfigError(field, value, `would be copied to ${kind} ${namespace}/${name}, which ${owner}`, way);
}

/**
 * Where the fork's routes for a Service go: the host's one VirtualService, or the delegate it routes
 * every request through, or (undefined) one forkstack creates. Refuses what forkstack cannot place
 * without touching shared traffic.
 */
function routeTarget(input: PlanInput, claim: ForkRouteClaim, i: number): { claim: ForkRouteClaim; virtualService?: string } {
  const vsList = input.cluster.filter((o) => o.kind === "VirtualService");
  const field = `${FIELD}.services[${i}].name`;
  const value = `${claim.service.name}.${claim.service.namespace}`;
  try {
    const vs = findVirtualService(vsList, claim.service);
    const delegate = delegateOf(vs);
    const placed: ForkRouteClaim = delegate === undefined ? claim : { ...claim, delegate };
    const target = placeRoutes(vsList, placed.service, placed.delegate).target;
    // The merge refuses app routes holding the fork's route names; a dry run here makes that a
    // refusal before anything is created.
    addForkRoutes(target, placed);
    if (target !== undefined) return { claim: placed, virtualService: `${nsOf(target)}/${target.metadata.name}` };
  } catch (err) {
    if (!(err instanceof RouteRefusal)) throw err;
    const fix = /both cover/.test(err.message)
      ? "Istio honours only one VirtualService per host (IST0109): merge them into one"
      : /wildcard/.test(err.message)
        ? `give ${claim.service.name} its own VirtualService (hosts: [${claim.service.name}]) with the wildcard's routes for it, then fork again`
        : /delegat/.test(err.message)
          ? "let every route of the VirtualService delegate to one delegate, or move the delegate's routes into it, or do not fork this Service"
          : "rename that route";
    throw new ConfigError(field, value, `cannot get fork routes: ${err.message}`, fix);
  }
  const name = virtualServiceName(claim.service.name);
  const taken = find(vsList, "VirtualService", claim.service.namespace, name);
  if (taken !== undefined) {
    throw new ConfigError(field, value, `has no VirtualService, and the name forkstack would give one (${claim.service.namespace}/${name}) is taken by a VirtualService for other hosts`, `rename VirtualService ${claim.service.namespace}/${name}`);
  }
  return { claim };
}

/**
 * One Mapping per upstream for the fork host. Emissary groups Mappings by hostname (with method,
 * prefix, headers): a fork Mapping on a shared host, or on another fork's, would join its canary
 * group and merge its headers into shared traffic — so every host and Mapping name is checked
 * against every upstream, the shared Mappings and every other fork's.
 */
function planMappings(input: PlanInput, copyOf: ReadonlyMap<string, string>): PlannedObject[] {
  const { fork, base } = input;
  const upstreamHosts = new Set(base.upstreams.map((u) => u.host));
  const sharedNames = new Set(base.upstreams.map((u) => mappingName(u.host)));
  const existing = input.cluster.filter((o) => o.kind === "Mapping" && nsOf(o) === base.gatewayNamespace);
  const ours = (o: KubeObject) => forkOfObject(o) === fork.id;
  const seen = new Map<string, string>();
  const ctx = { ambassadorId: base.ambassadorId, namespace: base.gatewayNamespace, headerName: base.headerName };
  return base.upstreams.map((upstream) => {
    const host = forkHost(fork.id, upstream.host, base.hostScheme);
    const label = host.split(".")[0];
    if (label.length > 63) {
      throw new ConfigError(`${FIELD}.id`, fork.id, `makes the host label "${label}" longer than 63 characters`, `use a fork id of at most ${fork.id.length - (label.length - 63)} characters`);
    }
    if (host.length > 253) {
      throw new ConfigError(`${FIELD}.id`, fork.id, `makes the host ${host.slice(0, 40)}… ${host.length} characters long, over DNS's 253`, `use a fork id of at most ${fork.id.length - (host.length - 253)} characters`);
    }
    if (upstreamHosts.has(host)) {
      throw new ConfigError(`${FIELD}.id`, fork.id, `makes the fork host ${host}, which is the shared upstream host ${host}: Emissary would send shared traffic to the fork`, "choose another fork id");
    }
    const clash = existing.find((o) => !ours(o) && [(o.spec as any)?.hostname, (o.spec as any)?.host].includes(host));
    if (clash !== undefined) {
      throw new ConfigError(`${FIELD}.id`, fork.id, `makes the fork host ${host}, which ${objectRef(clash)}${forkOfObject(clash) ? ` of fork "${forkOfObject(clash)}"` : ""} already serves`, "choose another fork id");
    }
    const target = entryTarget(upstream.service, copyOf);
    const object = forkMapping({ upstream, forkId: fork.id, headers: fork.headers, target, scheme: base.hostScheme, ctx, expiresAt: input.expiresAt, owner: input.owner });
    const name = object.metadata.name;
    const taken = existing.find((o) => o.metadata.name === name && !ours(o));
    if (sharedNames.has(name) || seen.has(name) || taken !== undefined) {
      const holder = taken !== undefined ? objectRef(taken) : sharedNames.has(name) ? "a shared Mapping" : `this fork's Mapping for ${seen.get(name)}`;
      throw new ConfigError(`${FIELD}.id`, fork.id, `names its Mapping for ${upstream.host} ${base.gatewayNamespace}/${name}, which ${holder} already uses`, "choose another fork id");
    }
    seen.set(name, upstream.host);
    return { key: `${fork.id}-mapping-${upstream.host}`, object };
  });
}

/** The entry Service a fork's Mapping targets: the fork's copy when it forked the entry service. */
function entryTarget(entry: ServiceRef, copyOf: ReadonlyMap<string, string>): ServiceRef {
  const copy = copyOf.get(`${entry.namespace}/${entry.name}`);
  return copy === undefined ? entry : { ...entry, name: copy };
}
