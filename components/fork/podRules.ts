/**
 * What the API server refuses in a copy's pods, judged by the fork plan before anything is created.
 * The base stack's admission policy (forkPolicy.ts, workloadPolicy) refuses a fork's Deployment
 * whose pods break Pod Security `baseline`, use a Secret their namespace does not list, or ask for
 * more than the per-container ceiling — but only during `pulumi up`, after some of the fork may
 * exist. These are the same rules over the object that would be sent (the copy, not the shared
 * Deployment: the copy drops the priority, rewrites labels and may change the ServiceAccount), each
 * said as one sentence and a way out. Pure; the policy stays the boundary, this is advice.
 */
import { ContainerResources, QUANTITY } from "../config";
import type { KubeObject } from "../kube/objects";
import { BASELINE, FORBIDDEN_POD_ANNOTATION_PREFIXES, FORBIDDEN_POD_ANNOTATIONS } from "../podSecurity";

/** What the base allows a copy in one namespace. */
export interface PodRules {
  /** The only Secrets a copy may use (BaseOutputs.forkSecrets of its namespace); undefined: any. */
  readonly secrets?: readonly string[];
  /** The ceiling per container (BaseOutputs.maxContainerResources); undefined: none. */
  readonly maxContainerResources?: ContainerResources;
}

/** Why the server would refuse a copy, and the way out. */
export interface PodProblem {
  /** Follows the Deployment's name: `runs container "api" privileged`. */
  readonly problem: string;
  readonly fix: string;
}

// The parts of a pod template these rules read (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#PodSpec).
type Ref = { name?: string } | undefined;
interface SecurityContext {
  privileged?: boolean;
  capabilities?: { add?: string[] };
  seccompProfile?: { type?: string };
  appArmorProfile?: { type?: string };
  seLinuxOptions?: { type?: string; user?: string; role?: string };
  windowsOptions?: { hostProcess?: boolean };
  procMount?: string;
  sysctls?: { name: string }[];
}
interface Container {
  name: string;
  securityContext?: SecurityContext;
  ports?: { hostPort?: number }[];
  env?: { name: string; valueFrom?: { secretKeyRef?: Ref } }[];
  envFrom?: { secretRef?: Ref }[];
  resources?: Partial<Record<"requests" | "limits", Record<string, string | number>>>;
}
interface PodSpec {
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  securityContext?: SecurityContext;
  volumes?: { name: string; hostPath?: unknown; secret?: { secretName?: string }; projected?: { sources?: { secret?: Ref }[] } }[];
  containers?: Container[];
  initContainers?: Container[];
  imagePullSecrets?: Ref[];
}

const BASELINE_FIX = "fork another Deployment, or ask its owners to run it within Kubernetes' Pod Security baseline profile (https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline)";
const APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/";
const DECIMAL: Record<string, number> = { "": 0, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY: Record<string, number> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };

/**
 * A Kubernetes quantity as a number: `500m` → 0.5, `4Gi` → 4294967296, `1e3` → 1000; undefined when
 * it is not one (grammar: config/access.ts QUANTITY). A YAML number (`cpu: 2`) is its own value.
 */
export function parseQuantity(value: string | number): number | undefined {
  const text = String(value);
  if (!QUANTITY.test(text)) return undefined;
  const [, number, suffix] = /^\+?([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(.*)$/.exec(text)!;
  if (suffix in BINARY) return Number(number) * 1024 ** BINARY[suffix];
  // Through a decimal exponent, so `100m` and `0.1` are the same double.
  const exponent = suffix in DECIMAL ? DECIMAL[suffix] : Number(suffix.slice(1));
  return Number(`${number}e${exponent}`);
}

/** The first thing in the copy's pods the API server would refuse, or undefined when it admits them. */
export function copyPodProblem(deployment: KubeObject, rules: PodRules): PodProblem | undefined {
  const pod = ((deployment.spec as any)?.template?.spec ?? {}) as PodSpec;
  const annotations = ((deployment.spec as any)?.template?.metadata?.annotations ?? {}) as Record<string, string>;
  const baseline = baselineProblem(pod, annotations);
  if (baseline !== undefined) return { problem: baseline, fix: BASELINE_FIX };
  return secretProblem(pod, deployment.metadata.namespace ?? "default", rules.secrets) ?? resourceProblem(pod, rules.maxContainerResources);
}

/** Containers and init containers, as the policy judges them, each with how a sentence names it. */
function containersOf(pod: PodSpec): { c: Container; who: string }[] {
  return [...(pod.containers ?? []).map((c) => ({ c, who: `container "${c.name}"` })), ...(pod.initContainers ?? []).map((c) => ({ c, who: `init container "${c.name}"` }))];
}

function baselineProblem(pod: PodSpec, annotations: Record<string, string>): string | undefined {
  for (const ns of ["Network", "PID", "IPC"] as const) {
    if (pod[`host${ns}`] === true) return `uses the node's ${ns === "Network" ? "network" : ns} namespace (host${ns}: true)`;
  }
  const hostPath = (pod.volumes ?? []).find((v) => v.hostPath !== undefined && v.hostPath !== null);
  if (hostPath !== undefined) return `mounts a directory of the node (hostPath volume "${hostPath.name}")`;
  const podContext = contextProblem(pod.securityContext, "its pods");
  if (podContext !== undefined) return podContext;
  const sysctl = (pod.securityContext?.sysctls ?? []).find((s) => !BASELINE.sysctls.includes(s.name));
  if (sysctl !== undefined) return `sets the sysctl ${sysctl.name}, which Pod Security baseline does not allow`;
  for (const { c, who } of containersOf(pod)) {
    const s = c.securityContext;
    if (s?.privileged === true) return `runs ${who} privileged`;
    const cap = (s?.capabilities?.add ?? []).find((x) => !BASELINE.capabilities.includes(x));
    if (cap !== undefined) return `adds the capability ${cap} to ${who}, which Pod Security baseline does not allow`;
    const port = (c.ports ?? []).find((p) => p.hostPort !== undefined && p.hostPort !== null && p.hostPort !== 0);
    if (port !== undefined) return `binds ${who} to port ${port.hostPort} of the node (hostPort)`;
    const context = contextProblem(s, who);
    if (context !== undefined) return context;
    if (s?.procMount !== undefined && s.procMount !== null && s.procMount !== "Default") return `unmasks /proc in ${who} (procMount: ${s.procMount})`;
  }
  for (const [key, value] of Object.entries(annotations)) {
    if (FORBIDDEN_POD_ANNOTATIONS.includes(key) || FORBIDDEN_POD_ANNOTATION_PREFIXES.some((p) => key.startsWith(p))) {
      return `has the pod annotation ${key}, with which a pod gets more than its spec says (Istio's injector or a legacy seccomp profile)`;
    }
    if (key.startsWith(APPARMOR_ANNOTATION) && value !== "runtime/default" && !value.startsWith("localhost/")) {
      return `runs container "${key.slice(APPARMOR_ANNOTATION.length)}" without AppArmor (annotation ${key}: ${value})`;
    }
  }
  return undefined;
}

/** What baseline forbids in a pod's or a container's securityContext alike. */
function contextProblem(s: SecurityContext | undefined, who: string): string | undefined {
  if (s?.seccompProfile?.type === "Unconfined") return `runs ${who} without seccomp (seccompProfile: Unconfined)`;
  if (s?.appArmorProfile?.type === "Unconfined") return `runs ${who} without AppArmor (appArmorProfile: Unconfined)`;
  const se = s?.seLinuxOptions;
  if (typeof se?.type === "string" && !BASELINE.seLinuxTypes.includes(se.type)) return `gives ${who} the SELinux type ${se.type}, which Pod Security baseline does not allow`;
  if (typeof se?.user === "string" && se.user !== "") return `gives ${who} the SELinux user ${se.user}, which Pod Security baseline does not allow`;
  if (typeof se?.role === "string" && se.role !== "") return `gives ${who} the SELinux role ${se.role}, which Pod Security baseline does not allow`;
  if (s?.windowsOptions?.hostProcess === true) return `runs ${who} as a Windows host process`;
  return undefined;
}

/** Every Secret the pods use, where, and whether the fork's own env could replace it. */
function secretUses(pod: PodSpec): { name: string; where: string; env?: string }[] {
  const uses: { name: string; where: string; env?: string }[] = [];
  for (const v of pod.volumes ?? []) {
    if (v.secret) uses.push({ name: v.secret.secretName ?? "", where: `volume "${v.name}"` });
    for (const s of v.projected?.sources ?? []) if (s.secret) uses.push({ name: s.secret.name ?? "", where: `projected volume "${v.name}"` });
  }
  containersOf(pod).forEach(({ c, who }, i) => {
    for (const e of c.env ?? []) {
      const ref = e.valueFrom?.secretKeyRef;
      // The fork's env replaces the first container's variables (copy.ts mergeEnv).
      if (ref) uses.push({ name: ref.name ?? "", where: `env ${e.name} of ${who}`, ...(i === 0 ? { env: e.name } : {}) });
    }
    for (const e of c.envFrom ?? []) if (e.secretRef) uses.push({ name: e.secretRef.name ?? "", where: `envFrom of ${who}` });
  });
  (pod.imagePullSecrets ?? []).forEach((s, i) => uses.push({ name: s?.name ?? "", where: `imagePullSecrets[${i}]` }));
  return uses;
}

function secretProblem(pod: PodSpec, namespace: string, allowed: readonly string[] | undefined): PodProblem | undefined {
  if (allowed === undefined) return undefined;
  const use = secretUses(pod).find((u) => !allowed.includes(u.name));
  if (use === undefined) return undefined;
  const secret = use.name === "" ? "a Secret without a name" : `Secret "${use.name}"`;
  const ask = `ask the platform team to list the Secret under forkstack:forkAccess.namespaces.${namespace}.secrets`;
  return {
    problem: `uses ${secret} (${use.where}), which copies in ${namespace} may not use`,
    fix: use.env !== undefined ? `give the fork its own env.${use.env}, fork another Deployment, or ${ask}` : `fork another Deployment, or ${ask}`,
  };
}

function resourceProblem(pod: PodSpec, max: ContainerResources | undefined): PodProblem | undefined {
  if (max === undefined) return undefined;
  for (const { c, who } of containersOf(pod)) {
    for (const list of ["requests", "limits"] as const) {
      for (const resource of ["cpu", "memory"] as const) {
        const value = c.resources?.[list]?.[resource];
        const ceiling = max[resource];
        if (value === undefined || value === null || ceiling === undefined) continue;
        const asked = parseQuantity(value);
        if (asked === undefined || asked <= parseQuantity(ceiling)!) continue;
        return {
          problem: `${list === "requests" ? `requests ${resource} ${value}` : `limits ${resource} to ${value}`} in ${who}, more than the ${ceiling} a copy may (forkstack:forkAccess.maxContainerResources of the base)`,
          fix: `fork another Deployment, or ask the platform team to raise forkstack:forkAccess.maxContainerResources.${resource}`,
        };
      }
    }
  }
  return undefined;
}
