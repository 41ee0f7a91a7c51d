/**
 * ForkStack: one developer's or pull request's copy-on-write view of the shared environment.
 *
 * For every forked service it reads the live shared Service and Deployment (`.get`: never owned, so
 * never deleted), creates safe copies of them (components/fork/copy.ts), and claims named routes in
 * the one VirtualService of the shared service (components/fork/forkRoutes.ts, a read-modify-write
 * that never loses another fork's routes). For every upstream host it creates a Mapping for
 * `<fork>.<host>` that sets the fork header and targets the fork's copy of the entry service when it
 * has one (the gateway has no sidecar, so no VirtualService decides that first hop; see
 * components/gateway.ts). All decisions live in the pure builders; this file only wires them.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { BaseOutputs, ForkConfig, ForkService, ServiceRef } from "../config";
import { ConfigError } from "../errors";
import { forkMapping } from "../mappings";
import { copyName, forkUrl, serviceFqdn } from "../naming";
import { checkServiceFrontsDeployment, copyDeployment, copyService } from "./copy";
import { ForkRoutes } from "./forkRoutes";

export interface ForkStackArgs {
  /** The validated fork (`forkstack:fork`). */
  readonly fork: ForkConfig;
  /** What the base stack exported (read through `forkstack:baseStack`). */
  readonly base: BaseOutputs;
  /** kubeconfig the route updates use to reach the cluster; "" for the ambient kubeconfig. */
  readonly kubeconfig: pulumi.Input<string>;
  /** The kubeconfig context the route updates use. @default the kubeconfig's current context */
  readonly context?: string;
  /** When the fork counts as expired (ISO 8601); recorded on everything it creates. @default never */
  readonly expiresAt?: string;
}

/** A service the fork copied, as the stack reports it. */
export interface CopiedService {
  /** The shared Service, `name.namespace`. */
  readonly service: string;
  /** The fork's copy, `name.namespace`. */
  readonly copy: string;
  /** The image the copy runs, when the fork replaced it. */
  readonly image?: string;
}

export class ForkStack extends pulumi.ComponentResource {
  /** The fork's URL for every upstream host, keyed by the upstream host. */
  public readonly urls: Record<string, string>;
  /** What the fork copied; empty for a header-only fork. */
  public readonly copies: CopiedService[];
  public readonly expiresAt?: string;

  constructor(name: string, args: ForkStackArgs, opts?: pulumi.ComponentResourceOptions) {
    super("forkstack:fork:ForkStack", name, {}, opts);
    const { fork, base } = args;

    // Build every Mapping first: the builder rejects a fork header among `headers`, and a mistake
    // must stop the fork before any resource is registered.
    const ctx = { ambassadorId: base.ambassadorId, namespace: base.gatewayNamespace, headerName: base.headerName };
    const mappings = base.upstreams.map((upstream) => ({
      upstream,
      object: forkMapping({
        upstream,
        forkId: fork.id,
        headers: fork.headers,
        target: entryTarget(upstream.service, fork),
        scheme: base.hostScheme,
        ctx,
        expiresAt: args.expiresAt,
      }),
    }));

    const copied: pulumi.Resource[] = [];
    const copies: CopiedService[] = [];
    fork.services.forEach((service, index) => {
      copied.push(...this.copyService(service, index, args));
      copies.push({
        service: `${service.name}.${service.namespace}`,
        copy: `${copyName(service.name, fork.id)}.${service.namespace}`,
        image: service.image,
      });
    });

    for (const { upstream, object } of mappings) {
      new k8s.apiextensions.CustomResource(`${fork.id}-mapping-${upstream.host}`, object as any, {
        parent: this,
        // The Mapping goes live only once the copies it may target exist.
        dependsOn: copied,
      });
    }

    this.urls = Object.fromEntries(base.upstreams.map((u) => [u.host, forkUrl(fork.id, u.host, base.hostScheme)]));
    this.copies = copies;
    this.expiresAt = args.expiresAt;
    this.registerOutputs({ urls: this.urls, copies: this.copies, expiresAt: this.expiresAt });
  }

  /** Reads one shared Service and its Deployment, creates the copies and claims the fork's routes. */
  private copyService(service: ForkService, index: number, args: ForkStackArgs): pulumi.Resource[] {
    const { fork, base } = args;
    const field = `forkstack:fork.services[${index}]`;
    const key = `${fork.id}-${service.namespace}-${service.name}`;
    const sharedSvc = k8s.core.v1.Service.get(`${key}-shared-service`, `${service.namespace}/${service.name}`, { parent: this });
    const sharedDep = k8s.apps.v1.Deployment.get(`${key}-shared-deployment`, `${service.namespace}/${service.deployment}`, { parent: this });

    const live = pulumi
      .all([sharedSvc.metadata, sharedSvc.spec, sharedDep.metadata, sharedDep.spec])
      .apply(([sm, ss, dm, ds]) => {
        const svc = { apiVersion: "v1", kind: "Service", metadata: sm as any, spec: ss as any };
        const dep = { apiVersion: "apps/v1", kind: "Deployment", metadata: dm as any, spec: ds as any };
        try {
          checkServiceFrontsDeployment(svc, dep, field);
        } catch (err) {
          // A ResourceError prints one line, attached to this fork, without a stack trace.
          if (err instanceof ConfigError) throw new pulumi.ResourceError(err.message, this);
          throw err;
        }
        const opts = { forkId: fork.id, image: service.image, env: service.env, replicas: service.replicas, expiresAt: args.expiresAt };
        return { deployment: copyDeployment(dep, svc, opts), service: copyService(svc, dep, opts) };
      });

    const deployment = new k8s.apps.v1.Deployment(
      `${key}-deployment`,
      { metadata: live.apply((l) => l.deployment.metadata as any), spec: live.apply((l) => l.deployment.spec as any) },
      { parent: this },
    );
    const svc = new k8s.core.v1.Service(
      `${key}-service`,
      { metadata: live.apply((l) => l.service.metadata as any), spec: live.apply((l) => l.service.spec as any) },
      { parent: this },
    );
    // Routes go in only after the copies exist, and come out (destroy runs in reverse) before
    // the copies are deleted, so no request is ever routed to a missing Service.
    const routes = new ForkRoutes(
      `${key}-routes`,
      {
        kubeconfig: pulumi.secret(args.kubeconfig),
        context: args.context,
        forkId: fork.id,
        headerName: base.headerName,
        serviceName: service.name,
        serviceNamespace: service.namespace,
        targetHost: serviceFqdn(copyName(service.name, fork.id), service.namespace),
      },
      { parent: this, dependsOn: [deployment, svc] },
    );
    return [deployment, svc, routes];
  }
}

/** The entry Service a fork's Mapping targets: the fork's copy when it forked the entry service. */
export function entryTarget(entry: ServiceRef, fork: ForkConfig): ServiceRef {
  const forked = fork.services.some((s) => s.name === entry.name && s.namespace === entry.namespace);
  return forked ? { ...entry, name: copyName(entry.name, fork.id) } : entry;
}
