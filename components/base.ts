/**
 * The base stack: the shared cluster, Istio, the Emissary gateway with the shared-host Mapping of
 * every upstream, wildcard certificates and DNS. Its outputs are the contract fork stacks read
 * through their StackReference (docs/base-stack.md, "Base stack outputs").
 *
 * DNS and certificates are what the config asks for (`forkstack:dns`, `forkstack:tls`): only
 * `dns: route53`, `tls.mode: acm` and cert-manager without `tls.issuer` touch AWS (Route53, ACM), so
 * a base with `external-dns` or `none` and the platform's issuer or Secrets runs on any cluster.
 */
import * as pulumi from "@pulumi/pulumi";
import { SharedCluster } from "./cluster";
import { BaseConfig, forkAccessOutputs } from "./config";
import { dnsRecordNames, dnsRecords, WildcardCertificates, WildcardDns } from "./dns";
import { ForkAccess, policyContextOf } from "./forkAccess";
import { AmbassadorGateway } from "./gateway";
import { forkHostPatterns } from "./gatewayObjects";
import { Istio } from "./istio";
import { SampleShop } from "./sampleShop";

export async function baseProgram(config: BaseConfig, secrets: { kubeconfig?: pulumi.Output<string> }): Promise<Record<string, unknown>> {
  // Checks that need no cloud call run before any resource exists.
  const recordNames = dnsRecordNames(config.upstreams, config.domain, config.hostScheme);

  const cluster = new SharedCluster("cluster", { config: config.cluster, kubeconfig: secrets.kubeconfig });
  const k8sOpts = { providers: { kubernetes: cluster.provider } };
  // istio.install false: the platform team runs Istio already (or, in the e2e tier, no chart can be
  // downloaded); nothing waits for a release then.
  const istioReady = config.istio.install
    ? new Istio("istio", { version: config.istio.version, chartRepo: config.istio.chartRepo, hub: config.istio.hub }, k8sOpts).ready
    : [];

  const gatewayArgs = {
    namespace: config.emissary.namespace,
    ambassadorId: config.emissary.ambassadorId,
    version: config.emissary.version,
    crdsChart: config.emissary.crdsChart,
    chart: config.emissary.chart,
    install: config.emissary.install,
    headerName: config.headerName,
    upstreams: config.upstreams,
    hostScheme: config.hostScheme,
    tlsMode: config.tls.mode,
    tlsSecrets: config.tls.secrets,
    externalDnsNames: config.dns === "external-dns" ? recordNames : undefined,
    dependsOn: istioReady,
  };
  const certArgs = { domain: config.domain, upstreams: config.upstreams, hostScheme: config.hostScheme, tlsMode: config.tls.mode, email: config.tls.email, issuer: config.tls.issuer };
  let gateway: AmbassadorGateway;
  if (config.tls.mode === "acm") {
    // ACM certificates come first: the load balancer is created with their ARNs.
    const certs = new WildcardCertificates("certificates", { ...certArgs, namespace: config.emissary.namespace }, k8sOpts);
    gateway = new AmbassadorGateway("gateway", { ...gatewayArgs, certificateArns: certs.certificateArns }, k8sOpts);
  } else {
    gateway = new AmbassadorGateway("gateway", gatewayArgs, k8sOpts);
    // cert-manager Certificates live in the gateway namespace, so they come after it; in secret
    // mode the platform's TLS Secrets are there already and no certificate is created.
    if (config.tls.mode === "cert-manager") new WildcardCertificates("certificates", { ...certArgs, namespace: gateway.namespace }, k8sOpts);
  }
  if (config.sampleApp) {
    // After Istio, so its sidecar injector is there when the shop's pods start.
    new SampleShop("sample-shop", {}, { ...k8sOpts, dependsOn: istioReady });
  }
  // Who may run forks: RBAC and the API server's own admission policies for the fork group.
  new ForkAccess(
    "fork-access",
    {
      policy: policyContextOf(config),
      eksCluster: cluster.eksCluster,
      dependsOn: [gateway],
    },
    k8sOpts,
  );
  // external-dns publishes the records from the gateway Service's annotation; with none, the
  // platform team creates the records of the dnsRecords output.
  if (config.dns === "route53") new WildcardDns("dns", { domain: config.domain, upstreams: config.upstreams, hostScheme: config.hostScheme, address: gateway.address });

  return {
    kubeconfig: cluster.kubeconfig,
    headerName: config.headerName,
    ambassadorId: config.emissary.ambassadorId,
    gatewayNamespace: config.emissary.namespace,
    upstreams: config.upstreams.map((u) => ({ host: u.host, service: { ...u.service } })),
    hostScheme: config.hostScheme,
    domain: config.domain,
    gatewayHostname: gateway.address,
    // dns none: the records to create by hand; [] when forkstack (route53) or external-dns makes them.
    dnsRecords: config.dns === "none" ? gateway.address.apply((address) => dnsRecords(recordNames, address)) : [],
    clusterName: cluster.clusterName,
    // Forks reach the cluster with the same kubeconfig context (kubeconfig mode; "" = its current one).
    kubeContext: config.cluster.mode === "kubeconfig" ? config.cluster.context ?? "" : "",
    maxForkReplicas: config.maxForkReplicas,
    forkHostPatterns: forkHostPatterns(config.upstreams, config.hostScheme),
    // For forkctl's price of a fork; null when the base gives none.
    pricing: config.pricing ?? null,
    // Who runs forks, where, as which ServiceAccounts, with which Secrets and how much per container
    // (forkGroup, forkNamespaces, forkSecrets, forkMaxContainerResources; forks refuse any other namespace).
    ...forkAccessOutputs(config.forkAccess),
  };
}
