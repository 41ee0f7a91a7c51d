/**
 * The e2e tier's real kube-apiserver for the route-writes benchmark (`npm run bench -- --only
 * routes --server kube`): the etcd, kube-apiserver and Istio CRDs that e2e/build.sh pins and builds
 * from Go modules (reused from its cache; building them when missing needs Go and takes most of an
 * hour), started on loopback by e2e/harness/cluster.ts with Istio's CRDs installed. Each run gets a
 * namespace of its own holding the app team's VirtualService, so runs do not share an object.
 * Everything started is stopped when `fn` settles, and on Ctrl-C.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { clientNodeAccess } from "../components/kube/clientNode";
import { Cluster, startCluster } from "../e2e/harness/cluster";
import { crdsOf, installCrds } from "../e2e/harness/crds";
import { ensureNamespace } from "../e2e/harness/fixtures";
import { buildTools } from "../e2e/harness/tools";
import { appVirtualService, RouteTarget } from "./routes";

/** The cache folders of e2e/build.sh's tools, building what is missing. */
function tools(names: string[]): Record<string, string> {
  try {
    return buildTools(names);
  } catch (err) {
    throw new Error(`--server kube needs the e2e tier's servers: ${(err as Error).message}; building them needs Go (docs/e2e.md), or leave out --server kube`);
  }
}

/** Runs `fn` with a real kube-apiserver; `target(name)` makes the namespace for one run. */
export async function withKubeServer<T>(fn: (target: (name: string) => Promise<RouteTarget>, version: string) => Promise<T>): Promise<T> {
  const dirs = tools(["etcd", "kube", "istio-crds"]);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "forkstack-bench-kube-"));
  let cluster: Cluster | undefined;
  const stop = async () => {
    await cluster?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals) => void stop().finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    cluster = await startCluster({ etcd: path.join(dirs.etcd, "etcd"), kubeApiserver: path.join(dirs.kube, "kube-apiserver") }, path.join(work, "cluster"));
    await installCrds(cluster.rest, crdsOf(path.join(dirs["istio-crds"], "crd-all.gen.yaml")));
    const { rest, kubeconfig } = cluster;
    const target = async (name: string): Promise<RouteTarget> => {
      await ensureNamespace(rest, name);
      await (await clientNodeAccess(kubeconfig)).virtualServices.create(appVirtualService(name, false));
      return { kubeconfig, namespace: name };
    };
    return await fn(target, cluster.version);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await stop();
  }
}
