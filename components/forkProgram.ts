/**
 * The fork-stack side of the program: read the base stack, check the fork against the live shared
 * cluster before anything is created, then build the ForkStack.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { BaseOutputs, ForkConfig, HostScheme, Upstream, expiryOf } from "./config";
import { ConfigError } from "./errors";
import { checkServiceFrontsDeployment } from "./fork/copy";
import { ForkStack } from "./fork/forkStack";
import { findVirtualService } from "./fork/routes";
import { getClusterAccess } from "./kube/access";
import { ClusterReader, VirtualServiceApi } from "./kube/vsApi";

export interface ForkProgramArgs {
  readonly fork: ForkConfig;
  /** `forkstack:baseStack`, e.g. `organization/forkstack/dev`. */
  readonly baseStack: string;
  /** The deployment time, for the expiry. */
  readonly now: Date;
}

const BASE_OUTPUTS = ["headerName", "ambassadorId", "gatewayNamespace", "upstreams", "hostScheme", "domain"] as const;

/** Reads the base stack's outputs; a missing one means the base was never deployed (or is too old). */
async function readBase(ref: pulumi.StackReference, baseStack: string): Promise<{ base: BaseOutputs; kubeconfig: string }> {
  const values: Record<string, unknown> = {};
  for (const name of [...BASE_OUTPUTS, "kubeconfig"]) {
    const details = await ref.getOutputDetails(name);
    const value = details.value ?? details.secretValue;
    if (value === undefined && name !== "kubeconfig") {
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
  return { base, kubeconfig: typeof values.kubeconfig === "string" ? values.kubeconfig : "" };
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
  const { base, kubeconfig } = await readBase(ref, baseStack);

  const access = await getClusterAccess(kubeconfig);
  await preflight(fork, access.reader, access.virtualServices);

  // An empty kubeconfig means the base adopted the ambient cluster: use the default provider too.
  const provider = kubeconfig === "" ? undefined : new k8s.Provider("shared-cluster", { kubeconfig: pulumi.secret(kubeconfig) });
  const expiresAt = expiryOf(fork, args.now);
  const stack = new ForkStack(
    fork.id,
    { fork, base, kubeconfig: pulumi.secret(kubeconfig), expiresAt },
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
