/**
 * The fork-stack side of the program: read the base stack, check the fork against the live shared
 * cluster before anything is created, then build the ForkStack.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { BaseOutputs, ForkConfig, HostScheme, Upstream, expiryOf } from "./config";
import { ConfigError, oneLine } from "./errors";
import { checkServiceFrontsDeployment } from "./fork/copy";
import { ForkStack } from "./fork/forkStack";
import { findVirtualService } from "./fork/routes";
import { getClusterAccess } from "./kube/access";
import { ClusterAccess, ClusterReader, VirtualServiceApi } from "./kube/vsApi";
import { LABELS, copyName, forkHost } from "./naming";

export interface ForkProgramArgs {
  readonly fork: ForkConfig;
  /** `forkstack:baseStack`, e.g. `organization/forkstack/dev`. */
  readonly baseStack: string;
  /** The deployment time, for the expiry. */
  readonly now: Date;
}

const BASE_OUTPUTS = ["headerName", "ambassadorId", "gatewayNamespace", "upstreams", "hostScheme", "domain"] as const;

/** Outputs a base may lack (older bases, or the ambient kubeconfig): "" when absent. */
const OPTIONAL_OUTPUTS = ["kubeconfig", "kubeContext"] as const;

/** Reads the base stack's outputs; a missing one means the base was never deployed (or is too old). */
async function readBase(ref: pulumi.StackReference, baseStack: string): Promise<{ base: BaseOutputs; kubeconfig: string; context: string }> {
  const values: Record<string, unknown> = {};
  for (const name of [...BASE_OUTPUTS, ...OPTIONAL_OUTPUTS]) {
    let details: pulumi.StackReferenceOutputDetails;
    try {
      details = await ref.getOutputDetails(name);
    } catch (err) {
      throw new ConfigError("forkstack:baseStack", baseStack, `cannot be read (${oneLine(err)})`, "check the name (organization/project/stack) and that you are logged in to its backend");
    }
    const value = details.value ?? details.secretValue;
    if (value === undefined && !(OPTIONAL_OUTPUTS as readonly string[]).includes(name)) {
      throw new ConfigError("forkstack:baseStack", baseStack, `has no output "${name}"`, "run `pulumi up` on the base stack first, or point forkstack:baseStack at a deployed base stack");
    }
    values[name] = value;
  }
  const base: BaseOutputs = {
    headerName: String(values.headerName),
    ambassadorId: String(values.ambassadorId),
    gatewayNamespace: String(values.gatewayNamespace),
    upstreams: values.upstreams as Upstream[],
    hostScheme: values.hostScheme as HostScheme,
    domain: String(values.domain),
  };
  const text = (v: unknown) => (typeof v === "string" ? v : "");
  return { base, kubeconfig: text(values.kubeconfig), context: text(values.kubeContext) };
}

/**
 * Checks what depends on the base's settings: every fork host is a valid DNS name (the flat scheme
 * puts `<fork>--<label>` into one label of at most 63 characters).
 */
export function checkForkHosts(fork: ForkConfig, base: BaseOutputs): void {
  for (const u of base.upstreams) {
    const host = forkHost(fork.id, u.host, base.hostScheme);
    const label = host.split(".")[0];
    if (label.length > 63) {
      throw new ConfigError("forkstack:fork.id", fork.id, `makes the host label "${label}" longer than 63 characters`, `use a fork id of at most ${fork.id.length - (label.length - 63)} characters`);
    }
  }
}

/**
 * Checks every forked service against the live cluster: the Service and its Deployment exist, the
 * Service fronts that Deployment, and at most one VirtualService covers it. Throws a ConfigError
 * naming the fork's config field, so a mistake stops the stack before anything is created.
 */
export async function preflight(fork: ForkConfig, reader: ClusterReader, virtualServices: VirtualServiceApi): Promise<void> {
  const all = fork.services.length > 0 ? await virtualServices.listAll() : [];
  for (const [i, s] of fork.services.entries()) {
    const field = `forkstack:fork.services[${i}]`;
    const svc = await reader.getService(s.namespace, s.name);
    if (svc === undefined) {
      throw new ConfigError(`${field}.name`, `${s.name}.${s.namespace}`, "is not a Service in the shared cluster", `check the name and namespace (kubectl get services -n ${s.namespace})`);
    }
    const dep = await reader.getDeployment(s.namespace, s.deployment);
    if (dep === undefined) {
      throw new ConfigError(`${field}.deployment`, `${s.deployment}.${s.namespace}`, "is not a Deployment in the shared cluster", `name the Deployment behind Service ${s.name} (kubectl get deployments -n ${s.namespace})`);
    }
    checkServiceFrontsDeployment(svc, dep, field);
    // Copy names are shortened and joined with "-", so two forks could meet on one name
    // (fork "alice" of api-v2 and fork "v2-alice" of api): refuse to take over another's object.
    const name = copyName(s.name, fork.id);
    for (const [kind, existing] of [
      ["Service", await reader.getService(s.namespace, name)],
      ["Deployment", await reader.getDeployment(s.namespace, name)],
    ] as const) {
      const owner = existing?.metadata.labels?.[LABELS.fork];
      if (existing !== undefined && owner !== fork.id) {
        throw new ConfigError(`${field}.name`, `${s.name}.${s.namespace}`, `would be copied to ${kind} ${s.namespace}/${name}, which ${owner ? `fork "${owner}" owns` : "already exists and is not a fork's copy"}`, "choose another fork id");
      }
    }
    try {
      findVirtualService(all, { name: s.name, namespace: s.namespace });
    } catch (err) {
      throw new ConfigError(`${field}.name`, `${s.name}.${s.namespace}`, `is covered by more than one VirtualService (${(err as Error).message})`, "Istio honours only one VirtualService per host (IST0109): merge them into one");
    }
  }
}

export async function forkProgram(args: ForkProgramArgs): Promise<Record<string, unknown>> {
  const { fork, baseStack } = args;
  const ref = new pulumi.StackReference(baseStack);
  const { base, kubeconfig, context } = await readBase(ref, baseStack);
  checkForkHosts(fork, base);

  let access: ClusterAccess;
  try {
    access = await getClusterAccess(kubeconfig, context);
    await preflight(fork, access.reader, access.virtualServices);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof TypeError || err instanceof ReferenceError) throw err;
    // An unreachable cluster or a rejected credential is not a bug: say so in one line.
    throw new ConfigError("forkstack:baseStack", baseStack, `gives a cluster forkstack cannot read (${oneLine(err)})`, "check that the cluster is up and your credentials work (kubectl get services -A)");
  }

  // An empty kubeconfig means the base adopted the ambient cluster: use the default provider too.
  const provider =
    kubeconfig === "" && context === ""
      ? undefined
      : new k8s.Provider("shared-cluster", {
          ...(kubeconfig !== "" ? { kubeconfig: pulumi.secret(kubeconfig) } : {}),
          ...(context !== "" ? { context } : {}),
        });
  const expiresAt = expiryOf(fork, args.now);
  const stack = new ForkStack(
    fork.id,
    { fork, base, kubeconfig: pulumi.secret(kubeconfig), context: context === "" ? undefined : context, expiresAt },
    provider ? { providers: { kubernetes: provider } } : {},
  );
  return {
    forkId: fork.id,
    urls: stack.urls,
    copies: stack.copies,
    expiresAt: expiresAt ?? null,
    headerName: base.headerName,
  };
}
