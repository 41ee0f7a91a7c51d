/**
 * The fork-stack side of the program: read the base stack (a typed parse of its outputs), read a
 * snapshot of the cluster, plan the whole fork (fork/plan.ts) and only then register it. A refused
 * plan stops the stack with one line before anything is created.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { BASE_OUTPUT_NAMES, ForkConfig, expiryOf, parseBaseOutputs } from "./config";
import { ConfigError, oneLine } from "./errors";
import { ForkStack } from "./fork/forkStack";
import { planForkOrThrow } from "./fork/plan";
import { getClusterAccess } from "./kube/access";
import type { KubeObject } from "./kube/objects";
import { redact } from "./kube/kubeconfig";
import { readSnapshot } from "./kube/snapshot";


/**
 * How long the Kubernetes provider waits for one HTTP answer. Without it the provider waits forever
 * (its client has no timeout unless `kubeClientSettings.timeout` or PULUMI_K8S_CLIENT_TIMEOUT sets
 * one: https://www.pulumi.com/registry/packages/kubernetes/api-docs/provider/#kubeclientsettings),
 * and a request the API server never answers hung `pulumi up`. 70 s is longer than kube-apiserver's
 * own `--request-timeout` (60 s by default), so the server answers a slow request first, with its
 * result or a 504, as forkstack's own writes do (kube/clientNode.ts WRITE_TIMEOUT_MS). The
 * provider's own environment variable, when set for the program, is honoured, and refused in one
 * line when it is not a whole number of seconds (the provider would refuse it too).
 */
export function requestTimeoutSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.PULUMI_K8S_CLIENT_TIMEOUT;
  if (text === undefined || text.trim() === "") return 70;
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1) {
    throw new ConfigError("PULUMI_K8S_CLIENT_TIMEOUT", text, "is not a whole number of seconds", "set it to e.g. 60, or unset it for forkstack's 70");
  }
  return Number(text);
}
export interface ForkProgramArgs {
  readonly fork: ForkConfig;
  /** `forkstack:baseStack`, e.g. `organization/forkstack/dev`. */
  readonly baseStack: string;
  /** The deployment time, for the expiry. */
  readonly now: Date;
  /** `project/stack` of this stack, recorded on every object the fork creates. @default pulumi project/stack */
  readonly owner?: string;
}

/** Reads the base stack's outputs and parses them into the typed contract. */
async function readBase(ref: pulumi.StackReference, baseStack: string) {
  const values: Record<string, unknown> = {};
  for (const name of BASE_OUTPUT_NAMES) {
    let details: pulumi.StackReferenceOutputDetails;
    try {
      details = await ref.getOutputDetails(name);
    } catch (err) {
      throw new ConfigError("forkstack:baseStack", baseStack, `cannot be read (${oneLine(err)})`, "check the name (organization/project/stack) and that you are logged in to its backend");
    }
    values[name] = details.value ?? details.secretValue;
  }
  return parseBaseOutputs(baseStack, values);
}

export async function forkProgram(args: ForkProgramArgs): Promise<Record<string, unknown>> {
  const { fork, baseStack } = args;
  // Every input checked before anything is read or created.
  const timeout = requestTimeoutSeconds();
  const ref = new pulumi.StackReference(baseStack);
  const { base, kubeconfig, kubeContext: context } = await readBase(ref, baseStack);

  let cluster: KubeObject[];
  try {
    const access = await getClusterAccess(kubeconfig, context);
    cluster = await readSnapshot(access.reader, access.virtualServices, fork.services.map((s) => s.namespace), base.gatewayNamespace);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof TypeError || err instanceof ReferenceError) throw err;
    // An unreachable cluster or a rejected credential is not a bug: say so in one line.
    throw new ConfigError("forkstack:baseStack", baseStack, `gives a cluster forkstack cannot read (${redact(oneLine(err))})`, "check that the cluster is up and your credentials work (kubectl get services -A)");
  }
  const expiresAt = expiryOf(fork, args.now);
  const owner = args.owner ?? `${pulumi.getProject()}/${pulumi.getStack()}`;
  const plan = planForkOrThrow({ fork, base, cluster, owner, expiresAt });

  // The provider of everything the fork creates: the base's cluster, every request bounded in time.
  // An empty kubeconfig (and context) means the ambient one, as the base adopted it: found as the
  // default provider would find it, the stack's kubernetes:kubeconfig / kubernetes:context config
  // first, then $KUBECONFIG (https://www.pulumi.com/registry/packages/kubernetes/installation-configuration/).
  const ambient = new pulumi.Config("kubernetes");
  const providerKubeconfig = kubeconfig !== "" ? pulumi.secret(kubeconfig) : ambient.get("kubeconfig");
  const providerContext = context !== "" ? context : ambient.get("context");
  const provider = new k8s.Provider("shared-cluster", {
    ...(providerKubeconfig !== undefined ? { kubeconfig: providerKubeconfig } : {}),
    ...(providerContext !== undefined ? { context: providerContext } : {}),
    kubeClientSettings: { timeout },
  });
  const stack = new ForkStack(fork.id, { plan, kubeconfig: pulumi.secret(kubeconfig), context: context === "" ? undefined : context }, { providers: { kubernetes: provider } });
  return {
    forkId: fork.id,
    urls: stack.urls,
    copies: stack.copies,
    expiresAt: expiresAt ?? null,
    headerName: base.headerName,
  };
}
