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

  // An empty kubeconfig means the base adopted the ambient cluster: use the default provider too.
  const provider =
    kubeconfig === "" && context === ""
      ? undefined
      : new k8s.Provider("shared-cluster", {
          ...(kubeconfig !== "" ? { kubeconfig: pulumi.secret(kubeconfig) } : {}),
          ...(context !== "" ? { context } : {}),
        });
  const stack = new ForkStack(
    fork.id,
    { plan, kubeconfig: pulumi.secret(kubeconfig), context: context === "" ? undefined : context },
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
