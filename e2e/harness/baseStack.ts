/**
 * The base stack the e2e tier can run under the real engine: index.ts's base program without its
 * DNS and certificate components.
 *
 * Why not index.ts itself: components/base.ts always creates WildcardCertificates and WildcardDns,
 * which register aws:acm / aws:route53 resources and invoke aws:route53/getZone, even in kubeconfig
 * mode. Those need the pulumi-aws provider plugin and an AWS account, neither of which exists here
 * (README "e2e tier"). Everything else is the real code: the config parsed by parseBaseConfig, the
 * SharedCluster in kubeconfig mode (its Kubernetes provider), the AmbassadorGateway with
 * `emissary.install: false` (Listeners, Hosts, the shared-host Mapping, the gateway Service), and
 * ForkAccess (the fork group's RBAC and ValidatingAdmissionPolicies, enforced by this API server),
 * and the outputs fork stacks read, in the shape of base.ts's. Keep it in step with components/base.ts;
 * once the base can skip DNS by config, run index.ts here instead.
 */
import * as pulumi from "@pulumi/pulumi";
import { SharedCluster } from "../../components/cluster";
import { CONFIG_NAMESPACE, forkAccessOutputs, parseBaseConfig } from "../../components/config";
import { ForkAccess, policyContextOf } from "../../components/forkAccess";
import { AmbassadorGateway } from "../../components/gateway";
import { forkHostPatterns } from "../../components/gatewayObjects";

const BASE_KEYS = ["cluster", "domain", "headerName", "hostScheme", "upstreams", "istio", "emissary", "tls", "sampleApp", "pricing", "forkAccess"];

export async function e2eBaseProgram(): Promise<Record<string, unknown>> {
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  const raw: Record<string, unknown> = {};
  for (const k of BASE_KEYS) {
    const text = config.get(k);
    if (text === undefined) continue;
    try {
      raw[k] = JSON.parse(text);
    } catch {
      raw[k] = text;
    }
  }
  const base = parseBaseConfig(raw);
  if (base.istio.install || base.emissary.install) throw new Error("the e2e base stack needs forkstack:istio.install and forkstack:emissary.install false (no chart can be downloaded here)");
  const cluster = new SharedCluster("cluster", { config: base.cluster, kubeconfig: config.getSecret("kubeconfig") });
  const gateway = new AmbassadorGateway(
    "gateway",
    {
      namespace: base.emissary.namespace,
      ambassadorId: base.emissary.ambassadorId,
      version: base.emissary.version,
      crdsChart: base.emissary.crdsChart,
      chart: base.emissary.chart,
      install: false,
      headerName: base.headerName,
      upstreams: base.upstreams,
      hostScheme: base.hostScheme,
      tlsMode: base.tls.mode,
      certificateArns: [],
    },
    { providers: { kubernetes: cluster.provider } },
  );
  new ForkAccess(
    "fork-access",
    {
      policy: policyContextOf(base),
      dependsOn: [gateway],
    },
    { providers: { kubernetes: cluster.provider } },
  );
  return {
    kubeconfig: cluster.kubeconfig,
    headerName: base.headerName,
    ambassadorId: base.emissary.ambassadorId,
    gatewayNamespace: base.emissary.namespace,
    upstreams: base.upstreams.map((u) => ({ host: u.host, service: { ...u.service } })),
    hostScheme: base.hostScheme,
    domain: base.domain,
    gatewayHostname: gateway.address,
    clusterName: cluster.clusterName,
    kubeContext: base.cluster.mode === "kubeconfig" ? (base.cluster.context ?? "") : "",
    forkHostPatterns: forkHostPatterns(base.upstreams, base.hostScheme),
    pricing: base.pricing ?? null,
    ...forkAccessOutputs(base.forkAccess),
  };
}
