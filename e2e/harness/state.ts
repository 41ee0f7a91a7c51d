/**
 * What e2e/run.ts hands the e2e tests: where the cluster and the built tools are. Written as JSON
 * to a file in the run's temporary folder; its path travels in FORKSTACK_E2E_STATE.
 */
import * as fs from "node:fs";
import { RestConfig, restConfigFromFiles } from "./rest";
import { parse } from "yaml";

export const E2E_STATE_ENV = "FORKSTACK_E2E_STATE";

export interface E2eState {
  work: string;
  kubeconfigPath: string;
  server: string;
  kubeVersion: string;
  pulumiBinDir?: string;
  kubernetesProviderBinDir?: string;
  istioctl?: string;
  /** The istio-routes tool (e2e/go/istio-routes): Envoy routes as istiod generates them, for the mesh cross-check. */
  istioRoutes?: string;
  pki: { ca: string; caKey: string };
}

export function e2eState(): E2eState {
  const file = process.env[E2E_STATE_ENV];
  if (!file) throw new Error(`${E2E_STATE_ENV} is not set: run the e2e tests with \`npm run e2e\`, which starts the API server they need`);
  return JSON.parse(fs.readFileSync(file, "utf8")) as E2eState;
}

/** The admin REST config, read from the run's kubeconfig. */
export function adminRest(state = e2eState()): RestConfig {
  const kc = parse(fs.readFileSync(state.kubeconfigPath, "utf8"));
  const user = kc.users[0].user;
  return restConfigFromFiles(state.server, kc.clusters[0].cluster["certificate-authority"], user["client-certificate"], user["client-key"]);
}
