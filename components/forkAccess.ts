/**
 * ForkAccess: the fork group's RBAC and admission policies (built in forkPolicy.ts), and in eks
 * mode the EKS access entries that put developers' and CI's IAM roles in that group
 * (https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html). Fork stacks then run as
 * whoever runs them; the base stack publishes no credential.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { BaseConfig } from "./config";
import { forkPolicies, forkRoleBindings, forkRoles, PolicyContext } from "./forkPolicy";
import { applyObject } from "./kube/applyObject";

export interface ForkAccessArgs {
  /** Who may fork where, and what the policies check against (upstream hosts, header, gateway). */
  readonly policy: PolicyContext;
  /** eks mode: the cluster the access entries belong to. */
  readonly eksCluster?: aws.eks.Cluster;
  /** Resources the RBAC objects wait for (the gateway namespace). */
  readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** What the fork role's policies check against, from a base stack's config (the one place that says so). */
export function policyContextOf(config: BaseConfig): PolicyContext {
  return {
    access: config.forkAccess,
    headerName: config.headerName,
    gatewayNamespace: config.emissary.namespace,
    ambassadorId: config.emissary.ambassadorId,
    upstreams: config.upstreams,
    hostScheme: config.hostScheme,
    domain: config.domain,
    maxForkReplicas: config.maxForkReplicas,
  };
}

export class ForkAccess extends pulumi.ComponentResource {
  /** The group fork runners belong to. */
  public readonly group: string;

  constructor(name: string, args: ForkAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("forkstack:access:ForkAccess", name, {}, opts);
    const childOpts = { parent: this, dependsOn: args.dependsOn ?? [] };
    if (args.policy.access.owners === undefined) {
      // The previous release's behaviour, kept so that an upgrade breaks no fork; said at every `up`.
      pulumi.log.warn(
        `forkstack:forkAccess.owners is not set: every member of group ${args.policy.access.group} may change every fork; ` +
          `list who owns which fork ids (docs/security.md) so that members can change only their own forks`,
        this,
      );
    }
    for (const obj of [...forkRoles(args.policy), ...forkRoleBindings(args.policy)]) {
      applyObject(`${name}-${obj.kind.toLowerCase()}-${obj.metadata.namespace ? `${obj.metadata.namespace}-` : ""}${obj.metadata.name}`, obj, childOpts);
    }
    // Policies before their bindings: a binding to a missing policy is accepted but enforces nothing.
    const policies = forkPolicies(args.policy);
    const created = new Map<string, pulumi.Resource>();
    for (const obj of policies.filter((o) => o.kind === "ValidatingAdmissionPolicy")) {
      created.set(obj.metadata.name, applyObject(`${name}-policy-${obj.metadata.name}`, obj, childOpts));
    }
    for (const obj of policies.filter((o) => o.kind === "ValidatingAdmissionPolicyBinding")) {
      const policyName = (obj.spec as { policyName: string }).policyName;
      applyObject(`${name}-binding-${obj.metadata.name}`, obj, { ...childOpts, dependsOn: [created.get(policyName)!] });
    }
    if (args.eksCluster !== undefined) {
      for (const principalArn of args.policy.access.principals) {
        const id = principalArn.split("/").pop()!.toLowerCase().replace(/[^a-z0-9-]/g, "-");
        new aws.eks.AccessEntry(
          `${name}-entry-${id}`,
          { clusterName: args.eksCluster.name, principalArn, kubernetesGroups: [args.policy.access.group], type: "STANDARD" },
          { parent: this },
        );
      }
    }
    this.group = args.policy.access.group;
    this.registerOutputs({ group: this.group });
  }
}
