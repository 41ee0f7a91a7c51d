/**
 * A fork's copies of a shared Service and Deployment, built from what the live cluster returns.
 * Pure: takes the live objects, returns plain objects ready to create. DESIGN.md, "Copying a
 * Deployment safely", lists the rules; the reasons are noted where each is applied.
 *
 * Not copied on purpose: HorizontalPodAutoscalers (a fork runs `replicas` pods, one by default, and an
 * HPA copied with the shared minReplicas would undo that), PodDisruptionBudgets, NetworkPolicies and
 * other objects that select the shared pods by label. Policies that select pods by the rewritten
 * labels (see forkPodLabels) do not apply to the copy's pods.
 */
import type { KubeObject } from "../kube/objects";
import { pinnedLabels, selectorOf } from "../kube/selectors";
import { ConfigError } from "../errors";
import { copiedFromValue, copyName, forkLabelValue, LABELS, MANAGED_BY, MESH_POD_LABELS } from "../naming";

export interface CopyOptions {
  forkId: string;
  /** Replaces the first container's image. */
  image?: string;
  /** Merged into the first container's env. */
  env: Readonly<Record<string, string>>;
  replicas: number;
  /** ISO 8601; recorded as an annotation. */
  expiresAt?: string;
  /**
   * Every shared object (Services, PodDisruptionBudgets, NetworkPolicies) whose selector picks the
   * shared Deployment's pods: each label any of them pins gets a fork value on the copy's pods.
   * @default the forked Service alone
   */
  selecting?: readonly KubeObject[];
  /** `project/stack` of the fork stack that owns the copy; recorded as LABELS.stack. */
  owner?: string;
  /** Run the copy as this ServiceAccount instead of the shared Deployment's. */
  serviceAccount?: string;
}

// The parts of a Service and a Deployment this module reads. Everything else is carried over as is.
type Labels = Record<string, string>;
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
interface Container {
  name: string;
  image?: string;
  env?: EnvVar[];
  [k: string]: unknown;
}
interface PodTemplate {
  metadata?: { labels?: Labels; annotations?: Record<string, string>; [k: string]: unknown };
  spec?: { containers?: Container[]; [k: string]: unknown };
}
interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}
interface DeploymentSpec {
  replicas?: number;
  selector?: { matchLabels?: Labels; matchExpressions?: LabelSelectorRequirement[] };
  template?: PodTemplate;
  [k: string]: unknown;
}
interface ServicePort {
  name?: string;
  port: number;
  nodePort?: number;
  [k: string]: unknown;
}
interface ServiceSpec {
  type?: string;
  selector?: Labels;
  clusterIP?: string;
  ports?: ServicePort[];
  [k: string]: unknown;
}

const serviceSpec = (svc: KubeObject) => (svc.spec ?? {}) as ServiceSpec;
const deploymentSpec = (dep: KubeObject) => (dep.spec ?? {}) as DeploymentSpec;
const templateLabels = (dep: KubeObject): Labels => deploymentSpec(dep).template?.metadata?.labels ?? {};

/**
 * Metadata the API server sets; a create that carries them is rejected or, worse, claims another
 * object's identity (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/object-meta/).
 * Finalizers belong to the controllers of the shared object; on the copy nobody would remove them and
 * its deletion would hang.
 */
const SERVER_SET_METADATA = ["uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink", "ownerReferences", "deletionTimestamp", "deletionGracePeriodSeconds", "finalizers"];

/**
 * Pod spec fields a copy does not carry: a shared Deployment's priority would let the copy preempt
 * shared pods when the cluster is full (https://kubernetes.io/docs/concepts/scheduling-eviction/pod-priority-preemption/);
 * the fork policy refuses them on the server too.
 */
const POD_SPEC_DROPPED = ["priorityClassName", "priority"];

/**
 * The pod spec without `affinity.podAntiAffinity`: its terms select the shared pods by their labels
 * (spread me away from other `app: api` pods), and the scheduler keeps every new pod those terms
 * select away from the copy's pods too — shared pods included. A copy runs a replica or two; it has
 * nothing to spread. The fork policy refuses required terms that could select other pods.
 */
function withoutAntiAffinity<T extends Record<string, unknown>>(spec: T): T {
  const affinity = spec.affinity as { podAntiAffinity?: unknown } | undefined;
  if (affinity?.podAntiAffinity === undefined) return spec;
  const { podAntiAffinity: _dropped, ...rest } = affinity;
  const out: Record<string, unknown> = { ...spec };
  if (Object.keys(rest).length === 0) delete out.affinity;
  else out.affinity = rest;
  return out as T;
}

/** Annotations that describe the shared object's history, not the copy. */
const DROPPED_ANNOTATIONS = ["deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration"];

/**
 * Service spec fields a copy must not carry: addresses and ports the cluster allocated (a create
 * with the shared clusterIP or nodePort fails with "already allocated"), and settings that only
 * exist for NodePort/LoadBalancer Services, which the API server rejects on a ClusterIP Service
 * (https://kubernetes.io/docs/reference/kubernetes-api/service-resources/service-v1/#ServiceSpec).
 * externalIPs would make the copy answer for the shared Service's external addresses.
 */
const DROPPED_SERVICE_SPEC = [
  "clusterIP",
  "clusterIPs",
  "healthCheckNodePort",
  "loadBalancerIP",
  "loadBalancerClass",
  "loadBalancerSourceRanges",
  "allocateLoadBalancerNodePorts",
  "externalTrafficPolicy",
  "externalIPs",
];

function omit<T extends object>(obj: T, keys: readonly string[]): T {
  const out = { ...obj } as Record<string, unknown>;
  for (const k of keys) delete out[k];
  return out as T;
}

/**
 * Keys the shared Deployment's selector pins to values, each with a value it accepts: its matchLabels
 * and the keys of its `In` expressions. NotIn, Exists and DoesNotExist only narrow what matchLabels
 * and In already select; changing a label value cannot take a pod out of them
 * (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#resources-that-support-set-based-requirements).
 */
function deploymentSelectedLabels(sharedDeployment: KubeObject): Labels {
  const selector = deploymentSpec(sharedDeployment).selector ?? {};
  const out: Labels = {};
  for (const e of selector.matchExpressions ?? []) {
    if (e.operator === "In" && (e.values ?? []).length > 0) out[e.key] = e.values![0];
  }
  return { ...out, ...(selector.matchLabels ?? {}) };
}

/**
 * Label values the copy's pods carry: for every key in the shared Service's selector AND every key
 * the shared Deployment's spec.selector pins (matchLabels and `In` expressions), value →
 * forkLabelValue(value, forkId); plus LABELS.fork.
 * Service selectors are equality-only
 * (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#equality-based-requirement),
 * so changing the value of a selected label is what keeps the shared Service (and the shared
 * Deployment's ReplicaSets) from selecting the copy's pods.
 */
export function forkPodLabels(sharedService: KubeObject, sharedDeployment: KubeObject, forkId: string, selecting: readonly KubeObject[] = [sharedService]): Record<string, string> {
  const template = templateLabels(sharedDeployment);
  const selected: Labels = { ...deploymentSelectedLabels(sharedDeployment) };
  for (const o of [sharedService, ...selecting]) {
    const sel = selectorOf(o);
    if (sel !== undefined) Object.assign(selected, pinnedLabels(sel));
  }
  const out: Labels = {};
  // Every label, not only the ones a selector seen today pins: the fork policy checks on the server
  // that each value of a copy's pods ends in `-forkstack-<fork>` (it cannot see which Services exist), and a
  // Service created tomorrow may select on a label nobody selects on today.
  for (const [key, value] of Object.entries({ ...selected, ...template })) {
    // The template's value is what the pods carry: checkServiceFrontsDeployment ensures it equals the
    // Service selector's, and the API server that the Deployment's selector selects its template.
    out[key] = MESH_POD_LABELS.includes(key) ? value : forkLabelValue(value, forkId);
  }
  out[LABELS.fork] = forkId;
  return out;
}


/** Labels of a copy object itself (not its pods): the shared object's labels plus ours. */
function copyLabels(shared: KubeObject, forkId: string): Labels {
  const ns = shared.metadata.namespace ?? "default";
  return {
    ...(shared.metadata.labels ?? {}),
    [LABELS.fork]: forkId,
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.copiedFrom]: copiedFromValue(ns, shared.metadata.name),
  };
}

function withExpiry(annotations: Record<string, string>, expiresAt: string | undefined): Record<string, string> | undefined {
  const out = expiresAt === undefined ? annotations : { ...annotations, [LABELS.expiresAt]: expiresAt };
  return Object.keys(out).length === 0 ? undefined : out;
}

function copyMetadata(shared: KubeObject, opts: CopyOptions, annotations: Record<string, string>): KubeObject["metadata"] {
  const base = omit(shared.metadata, [...SERVER_SET_METADATA, "annotations", "labels", "name"]);
  const metadata: KubeObject["metadata"] = {
    ...base,
    name: copyName(shared.metadata.name, opts.forkId),
    namespace: shared.metadata.namespace ?? "default",
    labels: copyLabels(shared, opts.forkId),
  };
  const merged = withExpiry(opts.owner === undefined ? annotations : { ...annotations, [LABELS.stack]: opts.owner }, opts.expiresAt);
  if (merged !== undefined) metadata.annotations = merged;
  return metadata;
}

/** Replaces entries of the same name in place (order matters for `$(VAR)` references), appends new ones. */
function mergeEnv(env: readonly EnvVar[] | undefined, overrides: Readonly<Record<string, string>>): EnvVar[] {
  const out = (env ?? []).map((e) => (Object.prototype.hasOwnProperty.call(overrides, e.name) ? { name: e.name, value: overrides[e.name] } : e));
  for (const [name, value] of Object.entries(overrides)) {
    if (!out.some((e) => e.name === name)) out.push({ name, value });
  }
  return out;
}

/**
 * The fork's copy of the shared Deployment: `replicas` pods with the fork pod labels, the first
 * container's image and env replaced/merged, everything else (sidecars, init containers, volumes,
 * probes, Istio injection annotations, service account) kept.
 */
export function copyDeployment(sharedDeployment: KubeObject, sharedService: KubeObject, opts: CopyOptions): KubeObject {
  const spec = deploymentSpec(sharedDeployment);
  const podLabels = forkPodLabels(sharedService, sharedDeployment, opts.forkId, opts.selecting);
  const template = spec.template ?? {};
  // The copy's selector is matchLabels only: the rewritten value of every key the shared selector
  // pins, plus the fork label. Keeping the shared matchExpressions would be wrong: `app In (api)`
  // no longer matches pods labelled `app: api-forkstack-alice`, and the API server rejects a Deployment whose
  // selector does not select its template ("selector does not match template labels"). Dropping
  // them is safe: the copy's selector only has to select its own pods, which carry exactly these
  // values, and the fork label keeps it off the shared pods and other forks' pods; the shared Service and the
  // shared Deployment stop selecting the copy's pods because the values they test were rewritten.
  const matchLabels: Labels = {};
  for (const key of Object.keys(deploymentSelectedLabels(sharedDeployment))) matchLabels[key] = podLabels[key];
  matchLabels[LABELS.fork] = opts.forkId;

  const containers = (template.spec?.containers ?? []).map((c, i) => {
    if (i !== 0) return c;
    const first: Container = { ...c };
    if (opts.image !== undefined) first.image = opts.image;
    if (Object.keys(opts.env).length > 0) first.env = mergeEnv(c.env, opts.env);
    return first;
  });

  // The API server returns the deprecated `serviceAccount` equal to serviceAccountName
  // (https://github.com/kubernetes/kubernetes/blob/master/pkg/apis/core/v1/conversion.go,
  // Convert_core_PodSpec_To_v1_PodSpec). A copy that runs as another ServiceAccount drops it: left
  // naming the shared one, the fork policy refuses the copy.
  const dropped = opts.serviceAccount === undefined ? POD_SPEC_DROPPED : [...POD_SPEC_DROPPED, "serviceAccount"];
  // `creationTimestamp: null` in the template is serializer noise the API server returns.
  const templateMetadata = omit(template.metadata ?? {}, ["creationTimestamp"]);
  const annotations = omit(sharedDeployment.metadata.annotations ?? {}, DROPPED_ANNOTATIONS);
  return {
    apiVersion: sharedDeployment.apiVersion,
    kind: sharedDeployment.kind,
    metadata: copyMetadata(sharedDeployment, opts, annotations),
    spec: {
      ...spec,
      replicas: opts.replicas,
      selector: { matchLabels },
      template: {
        ...template,
        metadata: { ...templateMetadata, labels: podLabels },
        spec: { ...withoutAntiAffinity(omit(template.spec ?? {}, dropped)), containers, ...(opts.serviceAccount !== undefined ? { serviceAccountName: opts.serviceAccount } : {}) },
      },
    },
  };
}

/**
 * Annotations a Service copy keeps: only Istio's (e.g. `networking.istio.io/exportTo`). Others act on
 * the Service from outside and must not be duplicated: external-dns would publish the shared
 * hostname for the copy, cloud load-balancer annotations configure a load balancer the copy must not have.
 */
const keepServiceAnnotation = (key: string) => /(^|\.)istio\.io\//.test(key);

/**
 * The fork's copy of the shared Service: a ClusterIP Service (a fork never buys a load balancer or
 * node ports) that selects only the copy's pods, with the same port names (Istio picks the protocol
 * from the port name or appProtocol: https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/).
 */
export function copyService(sharedService: KubeObject, sharedDeployment: KubeObject, opts: CopyOptions): KubeObject {
  const spec = serviceSpec(sharedService);
  const podLabels = forkPodLabels(sharedService, sharedDeployment, opts.forkId, opts.selecting);
  const selector: Labels = {};
  for (const key of Object.keys(spec.selector ?? {})) selector[key] = podLabels[key];
  selector[LABELS.fork] = opts.forkId;

  const copy: ServiceSpec = omit(spec, DROPPED_SERVICE_SPEC);
  if (spec.type === "LoadBalancer" || spec.type === "NodePort") copy.type = "ClusterIP";
  // A headless Service stays headless: "None" is a choice, not an allocated address.
  if (spec.clusterIP === "None") copy.clusterIP = "None";
  copy.ports = (spec.ports ?? []).map((p) => omit(p, ["nodePort"]));
  copy.selector = selector;

  const annotations = Object.fromEntries(Object.entries(sharedService.metadata.annotations ?? {}).filter(([k]) => keepServiceAnnotation(k)));
  return {
    apiVersion: sharedService.apiVersion,
    kind: sharedService.kind,
    metadata: copyMetadata(sharedService, opts, annotations),
    spec: copy,
  };
}

/**
 * Throws ConfigError (field `<field>.deployment` or `<field>.name`) when the shared Service has no
 * selector, when the shared Deployment's pod template does not carry the Service's selector labels
 * (the Service does not front that Deployment), or when it has no containers.
 * @param field the fork service's config path, e.g. `forkstack:fork.services[0]`.
 */
export function checkServiceFrontsDeployment(svc: KubeObject, dep: KubeObject, field: string): void {
  const selector = serviceSpec(svc).selector ?? {};
  const svcId = `${svc.metadata.namespace ?? "default"}/${svc.metadata.name}`;
  const depId = `${dep.metadata.namespace ?? "default"}/${dep.metadata.name}`;
  if (Object.keys(selector).length === 0) {
    throw new ConfigError(`${field}.name`, svcId, "is a Service without a selector (ExternalName or manual Endpoints)", "fork a Service that selects the pods of a Deployment");
  }
  const labels = templateLabels(dep);
  const missing = Object.entries(selector).filter(([k, v]) => labels[k] !== v);
  if (missing.length > 0) {
    const wanted = missing.map(([k, v]) => `${k}=${v}`).join(",");
    throw new ConfigError(
      `${field}.deployment`,
      depId,
      `has pods without the Service ${svcId}'s selector labels ${wanted}`,
      "set deployment to the Deployment whose pods that Service selects",
    );
  }
  if ((deploymentSpec(dep).template?.spec?.containers ?? []).length === 0) {
    throw new ConfigError(`${field}.deployment`, depId, "has no containers", "set deployment to the Deployment that runs the service");
  }
}
