/**
 * `npm run e2e`: builds (or reuses) the real servers and tools (e2e/build.sh), starts etcd and
 * kube-apiserver on loopback, installs the Istio and Emissary CRDs, runs the e2e tests
 * (e2e/tests/*.e2e.test.ts, Node's test runner) against them, and always stops what it started — on success, on failure and
 * on Ctrl-C / SIGTERM.
 *
 * Ends with the versions used and the plain line `e2e: N passed, M failed`; exits non-zero when a
 * test failed, none ran, or the harness itself failed.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Cluster, startCluster } from "./harness/cluster";
import { crdsOf, emissaryCrds, installCrds } from "./harness/crds";
import { buildTools } from "./harness/tools";
import { E2E_STATE_ENV, E2eState } from "./harness/state";

const root = path.resolve(__dirname, "..");

function build(): Record<string, string> {
  const started = Date.now();
  const dirs = buildTools();
  console.log(`e2e: tools ready in ${Math.round((Date.now() - started) / 1000)}s (${Object.values(dirs).join(", ")})`);
  return dirs;
}

function versionOf(bin: string, args: string[]): string {
  const res = spawnSync(bin, args, { encoding: "utf8", timeout: 30_000 });
  return (res.stdout || res.stderr || "").trim().split("\n")[0];
}

async function main(): Promise<number> {
  const dirs = build();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "forkstack-e2e-"));
  let cluster: Cluster | undefined;
  let tests: ReturnType<typeof spawn> | undefined;
  const only = process.argv.slice(2); // e.g. `npm run e2e -- routes` runs the files whose names contain "routes"
  let signalled: NodeJS.Signals | undefined;
  let cleaning: Promise<void> | undefined;
  // One cleanup, however many paths ask for it (a signal and the main flow's `finally`); each
  // awaits the same promise, so neither exits the process half-way through it.
  const cleanup = () =>
    (cleaning ??= (async () => {
      if (tests && tests.exitCode === null) tests.kill("SIGTERM");
      if (cluster) await cluster.stop();
      fs.rmSync(work, { recursive: true, force: true });
    })());
  const onSignal = (sig: NodeJS.Signals) => {
    signalled = sig;
    console.error(`e2e: ${sig}: stopping etcd and kube-apiserver`);
    cleanup().finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    cluster = await startCluster({ etcd: path.join(dirs.etcd, "etcd"), kubeApiserver: path.join(dirs.kube, "kube-apiserver") }, path.join(work, "cluster"));
    const istioCrds = crdsOf(path.join(dirs["istio-crds"], "crd-all.gen.yaml"));
    const installed = await installCrds(cluster.rest, [...istioCrds, ...emissaryCrds()]);
    console.log(`e2e: kube-apiserver ${cluster.version} at ${cluster.server}, ${installed.length} CRDs installed`);

    const pulumiBin = dirs.pulumi ? path.join(dirs.pulumi, "bin", "pulumi") : undefined;
    const state: E2eState = {
      work,
      kubeconfigPath: cluster.kubeconfigPath,
      server: cluster.server,
      kubeVersion: cluster.version,
      pulumiBinDir: dirs.pulumi,
      kubernetesProviderBinDir: dirs["kubernetes-provider"],
      istioctl: dirs.istioctl ? path.join(dirs.istioctl, "istioctl") : undefined,
      istioRoutes: dirs["istio-routes"] ? path.join(dirs["istio-routes"], "istio-routes") : undefined,
      pki: { ca: path.join(cluster.dir, "pki", "ca.crt"), caKey: path.join(cluster.dir, "pki", "ca.key") },
    };
    const tmp = path.join(work, "tmp");
    fs.mkdirSync(tmp);
    const stateFile = path.join(work, "state.json");
    fs.writeFileSync(stateFile, JSON.stringify(state, null, 2));

    // Node's own test runner, not Jest: client-node is ESM-only and Jest's CommonJS vm cannot
    // `import()` it (the unit tests work around that with child processes, test/fork/concurrency.test.ts);
    // here the code under test runs unmodified, in plain Node processes, one per test file.
    const tap = path.join(work, "e2e.tap");
    const files = fs
      .readdirSync(path.join(__dirname, "tests"))
      .filter((f) => f.endsWith(".e2e.test.ts"))
      .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
      .sort()
      .map((f) => path.join(__dirname, "tests", f));
    const code = await new Promise<number>((resolve) => {
      tests = spawn(
        process.execPath,
        ["--require", "ts-node/register/transpile-only", "--test", "--test-concurrency=1", "--test-timeout=600000", "--test-reporter=spec", "--test-reporter-destination=stdout", "--test-reporter=tap", `--test-reporter-destination=${tap}`, ...files],
        // TMPDIR inside the run's folder: whatever the tests leave there goes with the cleanup.
        { cwd: root, stdio: "inherit", env: { ...process.env, [E2E_STATE_ENV]: stateFile, KUBECONFIG: cluster!.kubeconfigPath, TMPDIR: tmp } },
      );
      tests.on("exit", (c) => resolve(c ?? 1));
    });
    if (signalled) {
      await cleanup();
      return signalled === "SIGINT" ? 130 : 143;
    }
    const count = (name: string) => Number((new RegExp(`^# ${name} (\\d+)$`, "m").exec(fs.existsSync(tap) ? fs.readFileSync(tap, "utf8") : "") ?? [])[1] ?? 0);
    const passed = count("pass");
    const failed = count("fail") + count("cancelled");
    const total = count("tests");
    const pulumiVersion = pulumiBin ? versionOf(pulumiBin, ["version"]) : "not built";
    const providerPin = /^\/\/ npm-version: (\S+)$/m.exec(fs.readFileSync(path.join(__dirname, "go", "kubernetes-provider", "go.mod"), "utf8"));
    const providerVersion = dirs["kubernetes-provider"] && providerPin ? `v${providerPin[1]}` : "not built";
    console.log(`e2e: kube-apiserver ${cluster.version}, etcd ${versionOf(path.join(dirs.etcd, "etcd"), ["--version"]).replace(/^etcd Version: /, "")}, pulumi ${pulumiVersion}, kubernetes provider ${providerVersion}`);
    console.log(`e2e: ${passed} passed, ${failed} failed`);
    if (total === 0) {
      console.error("e2e: no test ran");
      return 1;
    }
    return code === 0 && failed === 0 ? 0 : 1;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`e2e: ${err instanceof Error ? err.message : String(err)}`);
    console.log("e2e: 0 passed, 1 failed");
    process.exit(1);
  },
);
