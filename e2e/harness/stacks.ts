/**
 * What the stage-2 e2e tests (real Pulumi engine) share: the example stack configs as the e2e runs
 * them, and a developer in the base's fork group with a kubeconfig of their own.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { clientCert, Pki } from "./certs";
import { kubeconfigText } from "./cluster";
import { ROOT } from "./fixtures";
import { apply } from "./objects";
import { RestConfig } from "./rest";
import { E2eState } from "./state";

/**
 * The example configs as a platform without AWS runs them: Istio and Emissary already installed
 * (here the harness installs their CRDs; no chart can be downloaded), DNS records the platform
 * points itself (`dns: none`) and a TLS Secret it already has for the shop's host and wildcard. The
 * base is then index.ts itself: nothing in it asks for Route53 or ACM.
 */
/** The platform's TLS Secret (in the gateway namespace) the e2e base serves the shop's host with. */
export const E2E_TLS = { host: "shop.dev.example.com", secret: "shop-tls" } as const;

export function exampleConfigs(): { dev: string; alice: string; bob: string } {
  const read = (s: string) => parse(fs.readFileSync(path.join(ROOT, "examples", `Pulumi.${s}.yaml`), "utf8"));
  const dev = read("dev");
  dev.config["forkstack:istio"] = { install: false };
  dev.config["forkstack:emissary"] = { install: false };
  dev.config["forkstack:dns"] = "none";
  dev.config["forkstack:tls"] = { mode: "secret", secrets: { [E2E_TLS.host]: E2E_TLS.secret } };
  return { dev: stringify(dev), alice: stringify(read("alice")), bob: stringify(read("bob")) };
}

/**
 * The platform's TLS Secret for the shop's host and its fork wildcard, as the platform would have
 * it before the base stack (forkstack:tls.secrets names it). Its content is a placeholder: no TLS
 * is served here, and the API server checks only that a kubernetes.io/tls Secret has both keys.
 */
export async function platformTlsSecret(rest: RestConfig, namespace: string): Promise<void> {
  const placeholder = Buffer.from("e2e placeholder: no TLS is served here").toString("base64");
  await apply(rest, { apiVersion: "v1", kind: "Secret", type: "kubernetes.io/tls", metadata: { name: E2E_TLS.secret, namespace }, data: { "tls.crt": placeholder, "tls.key": placeholder } });
}

/** The base config's fork group (examples/Pulumi.dev.yaml forkstack:forkAccess.group). */
export function forkGroupOf(devConfig: string): string {
  return (parse(devConfig).config["forkstack:forkAccess"] as { group: string }).group;
}

export interface ForkUser {
  /** A kubeconfig file with the user's client certificate (mode 0600). */
  kubeconfig: string;
  rest: RestConfig;
}

/**
 * A developer `user` in `groups`: a client certificate signed by the e2e cluster's CA (CN = user,
 * O = each group), which is how the API server authenticates them
 * (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#x509-client-certificates).
 */
export function forkUser(state: E2eState, dir: string, user: string, groups: string | string[], ca: string): ForkUser {
  const cert = clientCert({ dir: path.dirname(state.pki.ca), caCert: state.pki.ca, caKey: state.pki.caKey } as Pki, user, Array.isArray(groups) ? groups : [groups]);
  const kubeconfig = path.join(dir, `${user}-kubeconfig`);
  fs.writeFileSync(kubeconfig, kubeconfigText(state.server, state.pki.ca, cert.cert, cert.key, user), { mode: 0o600 });
  return { kubeconfig, rest: { server: state.server, ca, cert: fs.readFileSync(cert.cert, "utf8"), key: fs.readFileSync(cert.key, "utf8") } };
}
