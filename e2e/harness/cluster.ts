/**
 * etcd and kube-apiserver on loopback for one e2e run: random free ports, a fresh PKI, a
 * client-certificate kubeconfig, RBAC and the default admission chain (ValidatingAdmissionPolicy
 * included, GA since 1.30). No controller-manager, scheduler or kubelet: Deployments are stored
 * and validated, never get pods (see docs/e2e.md).
 *
 * `startCluster` returns a handle whose `stop()` ends both processes (SIGTERM, then SIGKILL after a
 * grace period) and removes their data; the caller must call it in a `finally`. If starting fails
 * half-way, startCluster stops what it had started before it rethrows.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { clientCert, makePki } from "./certs";
import { call, request, RestConfig, waitFor } from "./rest";

export interface ClusterBinaries {
  etcd: string;
  kubeApiserver: string;
}

export interface Cluster {
  dir: string;
  server: string;
  /** Path of an admin kubeconfig (client certificate in system:masters). */
  kubeconfigPath: string;
  kubeconfig: string;
  rest: RestConfig;
  /** What /version answers, e.g. v1.37.2. */
  version: string;
  logs: { etcd: string; apiserver: string };
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

interface Proc {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

function startProcess(name: string, bin: string, args: string[], logFile: string): Proc {
  const log = fs.openSync(logFile, "a");
  const child = spawn(bin, args, { stdio: ["ignore", log, log] });
  fs.closeSync(log);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? -1 : null))));
  child.on("error", () => undefined); // reported through `exited` and the log
  return { name, child, exited };
}

async function stopProcess(p: Proc, graceMs = 10_000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill("SIGTERM");
  const timer = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), graceMs).unref());
  if ((await Promise.race([p.exited, timer])) === "timeout") {
    p.child.kill("SIGKILL");
    await p.exited;
  }
}

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

export function kubeconfigText(server: string, caFile: string, certFile: string, keyFile: string, user = "e2e-admin"): string {
  // File references, not inline data: the kubeconfig can be shown or logged without leaking a key.
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "  - name: e2e",
    "    cluster:",
    `      server: ${server}`,
    `      certificate-authority: ${caFile}`,
    "users:",
    `  - name: ${user}`,
    "    user:",
    `      client-certificate: ${certFile}`,
    `      client-key: ${keyFile}`,
    "contexts:",
    "  - name: e2e",
    `    context: { cluster: e2e, user: ${user} }`,
    "current-context: e2e",
    "",
  ].join("\n");
}

export async function startCluster(bins: ClusterBinaries, dir: string, opts: { readyTimeoutMs?: number } = {}): Promise<Cluster> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pki = makePki(path.join(dir, "pki"));
  const admin = clientCert(pki, "forkstack-e2e-admin", ["system:masters"]);
  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const logs = { etcd: path.join(dir, "etcd.log"), apiserver: path.join(dir, "kube-apiserver.log") };
  const procs: Proc[] = [];
  const stop = async () => {
    for (const p of [...procs].reverse()) await stopProcess(p);
    procs.length = 0;
  };
  try {
    procs.push(
      startProcess(
        "etcd",
        bins.etcd,
        [
          "--name=e2e",
          `--data-dir=${path.join(dir, "etcd")}`,
          `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
          `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
          `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
          `--initial-cluster=e2e=http://127.0.0.1:${etcdPeer}`,
          // A throwaway store: skipping fsync keeps etcd off the disk's latency.
          "--unsafe-no-fsync",
          "--log-level=warn",
        ],
        logs.etcd,
      ),
    );
    const server = `https://127.0.0.1:${apiPort}`;
    procs.push(
      startProcess(
        "kube-apiserver",
        bins.kubeApiserver,
        [
          `--etcd-servers=http://127.0.0.1:${etcdClient}`,
          "--bind-address=127.0.0.1",
          "--advertise-address=127.0.0.1",
          // The `kubernetes` Service's endpoints would be this address, which may not be loopback;
          // nothing here routes to it, so do not reconcile them.
          "--endpoint-reconciler-type=none",
          `--secure-port=${apiPort}`,
          `--cert-dir=${path.join(dir, "apiserver-certs")}`,
          `--tls-cert-file=${pki.serverCert}`,
          `--tls-private-key-file=${pki.serverKey}`,
          `--client-ca-file=${pki.caCert}`,
          "--authorization-mode=RBAC",
          `--service-account-issuer=https://kubernetes.default.svc`,
          `--service-account-key-file=${pki.saPub}`,
          `--service-account-signing-key-file=${pki.saKey}`,
          "--service-cluster-ip-range=10.96.0.0/16",
          // No kube-controller-manager runs, so no ServiceAccount token controller: the
          // ServiceAccount admission plugin would refuse pods without one (none are created here).
          "--disable-admission-plugins=ServiceAccount",
          // As on real clusters (kubeadm, EKS, GKE set it: CNI and CSI pods need it), so that what
          // refuses a privileged copy is the fork policy, not this flag (its default is false).
          "--allow-privileged=true",
          "--profiling=false",
          "--v=1",
        ],
        logs.apiserver,
      ),
    );
    const rest: RestConfig = { server, ca: fs.readFileSync(pki.caCert, "utf8"), cert: fs.readFileSync(admin.cert, "utf8"), key: fs.readFileSync(admin.key, "utf8") };
    const died = Promise.race(procs.map((p) => p.exited.then((code) => `${p.name} exited (${code})`)));
    let exitNote: string | undefined;
    died.then((n) => (exitNote = n));
    await waitFor(
      "kube-apiserver /readyz",
      async () => (await request(rest, "GET", "/readyz", undefined, { timeoutMs: 5_000 })).status === 200,
      opts.readyTimeoutMs ?? 120_000,
      250,
      () => exitNote,
    ).catch((err) => {
      throw new Error(`${err.message}\n--- etcd log ---\n${tail(logs.etcd)}\n--- kube-apiserver log ---\n${tail(logs.apiserver)}`);
    });
    // /readyz waits for the bootstrap controllers; the default namespace is the last thing clients assume.
    await waitFor("namespace default", async () => (await request(rest, "GET", "/api/v1/namespaces/default")).status === 200, 60_000);
    const version = (await call(rest, "GET", "/version")).gitVersion as string;
    const kubeconfigPath = path.join(dir, "kubeconfig");
    const kubeconfig = kubeconfigText(server, pki.caCert, admin.cert, admin.key);
    fs.writeFileSync(kubeconfigPath, kubeconfig, { mode: 0o600 });
    return { dir, server, kubeconfigPath, kubeconfig, rest, version, logs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
