/**
 * ForkStack: registers exactly what a fork's plan (fork/plan.ts) says — the Deployment copies, the
 * Service copies, the fork's routes in the shared VirtualServices (ForkRoutes, a read-modify-write
 * that never loses another fork's routes) and one Mapping per upstream host. Every decision was made
 * by the plan; this file only wires it to resources and orders them: copies first, then routes to
 * them, then the Mappings that may target them (destroy runs in reverse, so nothing is ever routed
 * to a missing copy).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ForkRoutes } from "./forkRoutes";
import type { CopiedService, ForkPlan } from "./plan";

export type { CopiedService } from "./plan";

export interface ForkStackArgs {
  /** The fork as planned (planFork); nothing here decides anything. */
  readonly plan: ForkPlan;
  /** kubeconfig the route updates use to reach the cluster; "" for the ambient kubeconfig. */
  readonly kubeconfig: pulumi.Input<string>;
  /** The kubeconfig context the route updates use. @default the kubeconfig's current context */
  readonly context?: string;
}

export class ForkStack extends pulumi.ComponentResource {
  /** The fork's URL for every upstream host, keyed by the upstream host. */
  public readonly urls: Record<string, string>;
  /** What the fork copied; empty for a header-only fork. */
  public readonly copies: CopiedService[];

  constructor(name: string, args: ForkStackArgs, opts?: pulumi.ComponentResourceOptions) {
    super("forkstack:fork:ForkStack", name, {}, opts);
    const { plan } = args;

    const created = new Map<string, pulumi.Resource>();
    for (const { key, object, aliases } of plan.deployments) {
      const opts = { parent: this, ...(aliases === undefined ? {} : { aliases: aliases.map((name) => ({ name })) }) };
      created.set(key, new k8s.apps.v1.Deployment(key, { metadata: object.metadata as any, spec: object.spec as any }, opts));
    }
    for (const { key, object } of plan.services) {
      created.set(key, new k8s.core.v1.Service(key, { metadata: object.metadata as any, spec: object.spec as any }, { parent: this }));
    }
    for (const route of plan.routes) {
      new ForkRoutes(
        route.key,
        {
          kubeconfig: pulumi.secret(args.kubeconfig),
          context: args.context,
          forkId: route.claim.forkId,
          headerName: route.claim.headerName,
          serviceName: route.claim.service.name,
          serviceNamespace: route.claim.service.namespace,
          targetHost: route.claim.targetHost,
          delegate: route.claim.delegate === undefined ? "" : `${route.claim.delegate.namespace}/${route.claim.delegate.name}`,
        },
        { parent: this, dependsOn: route.needs.map((k) => created.get(k)!) },
      );
    }
    const copies = [...created.values()];
    for (const { key, object } of plan.mappings) {
      // The Mapping goes live only once the copies it may target exist.
      new k8s.apiextensions.CustomResource(key, object as any, { parent: this, dependsOn: copies });
    }

    this.urls = { ...plan.urls };
    this.copies = plan.copies.map((c) => ({ ...c }));
    this.registerOutputs({ urls: this.urls, copies: this.copies });
  }
}
