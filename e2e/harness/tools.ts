/**
 * The servers and tools e2e/build.sh pins and builds from Go modules, by name (etcd, kube,
 * istio-crds, pulumi, kubernetes-provider, istioctl, istio-routes; all when none are named): reused from its
 * cache, built when missing (that needs Go). Resolves to each tool's cache folder, from the
 * `tool=<dir>` lines build.sh prints; its progress goes to stderr.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

export function buildTools(names: string[] = []): Record<string, string> {
  const root = path.resolve(__dirname, "..", "..");
  const res = spawnSync("bash", [path.join(root, "e2e", "build.sh"), ...names], { cwd: root, stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
  if (res.status !== 0) throw new Error(`e2e/build.sh${names.length > 0 ? ` ${names.join(" ")}` : ""} failed (exit ${res.status ?? res.signal})`);
  const dirs: Record<string, string> = {};
  for (const line of res.stdout.split("\n")) {
    const m = /^([a-z-]+)=(.+)$/.exec(line.trim());
    if (m) dirs[m[1]] = m[2];
  }
  return dirs;
}
