/**
 * Routing proven by Istio itself (render/meshCheck.ts): for every fork of a render and every shared
 * Service a fork could be routed through, called from a sidecar with the fork's header, with
 * another fork's, with ids that prefix or extend it, and without, explain's answer (the route and
 * the clusters it sends to, with weights) must equal the Envoy route that istiod's own config
 * generation produces for the same objects and Envoy's matching selects (e2e/go/istio-routes).
 *
 * Environments: the sample shop (examples: dev, alice, bob, flags), the benchmark's synthetic
 * environment (bench/envgen.ts: N = 140 services, 20 forks), the payments fixture with forks'
 * routes written the way the plan writes them into a delegate VirtualService and a gateway-bound
 * one, and an app team's canary (subsets, weights, a header match, retries) next to a wildcard host. A deliberately wrong route (a fork route moved below the default route in the VirtualService
 * istiod gets) must make the check fail. The Emissary hop is not checked: it stays forkstack's model.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as YAML from "yaml";
import { addForkRoutes, placeRoutes } from "../../components/fork/routes";
import { serviceFqdn } from "../../components/naming";
import { baseConfig, EnvShape, forkConfig, ForkShape, sharedObjects } from "../../bench/envgen";
import type { KubeObject } from "../../render/cluster";
import { compareAnswers, formatDisagreement, meshRequests, runIstioRoutes } from "../../render/meshCheck";
import { renderStacks } from "../../render/render";
import { ROOT, yamlDocs } from "../harness/fixtures";
import { e2eState } from "../harness/state";

const state = e2eState();
const HEADER = "x-fork-identifier";
const EXAMPLES = path.join(ROOT, "examples");

/** Checks one environment; returns the pairs compared, and fails listing every disagreement. */
function check(name: string, objects: KubeObject[]): number {
  const requests = meshRequests(objects, HEADER);
  const result = compareAnswers(objects, requests, runIstioRoutes(state.istioRoutes!, objects, requests));
  console.log(`mesh check, ${name}: ${result.compared} (request, hop) pairs compared, ${result.disagreements.length} disagreements, ${result.skipped.length} left out`);
  for (const s of result.skipped) console.log(`  left out: ${s.request.id}: ${s.why}`);
  assert.deepEqual(result.disagreements.map(formatDisagreement), []);
  assert.ok(result.compared > 0, `${name}: nothing compared`);
  return result.compared;
}

async function examples(): Promise<KubeObject[]> {
  const render = await renderStacks({ stacks: ["dev", "alice", "bob", "flags"], configDir: EXAMPLES, clusterFiles: [path.join(EXAMPLES, "cluster", "shop.yaml")] });
  return render.cluster.all();
}

describe("Envoy's route matching as istio-routes implements it (e2e/go/istio-routes/envoymatch)", () => {
  it("passes its Go tests on hand-built route configurations", { timeout: 300_000 }, () => {
    const run = spawnSync("go", ["test", "-count=1", "./envoymatch/"], { cwd: path.join(ROOT, "e2e", "go", "istio-routes"), encoding: "utf8", timeout: 280_000, env: { ...process.env, GOFLAGS: "-mod=readonly" } });
    assert.equal(run.status, 0, `go test ./envoymatch/ exit ${run.status ?? run.error?.message}:\n${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /^ok\s+\S+\/envoymatch\b/m);
  });
});

describe("explain agrees with the routes istiod generates", { skip: state.istioRoutes === undefined ? "istio-routes was not built (e2e/build.sh istio-routes)" : false, timeout: 900_000 }, () => {
  it("on the sample shop and its forks (examples: dev, alice, bob, flags)", async () => {
    check("sample shop", await examples());
  });

  it("on the benchmark's environment of 140 services and 20 forks", { timeout: 600_000 }, async () => {
    const env: EnvShape = { services: 140, upstreams: 3 };
    const shape: ForkShape = { forks: 20, perFork: 2, headerOnlyEvery: 10 };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "forkstack-meshcheck-"));
    try {
      fs.writeFileSync(path.join(dir, "cluster.yaml"), sharedObjects(env).map((o) => YAML.stringify(o)).join("---\n"));
      fs.writeFileSync(path.join(dir, "Pulumi.base.yaml"), YAML.stringify({ config: baseConfig(env) }));
      const stacks = ["base"];
      for (let j = 0; j < shape.forks; j++) {
        fs.writeFileSync(path.join(dir, `Pulumi.f${j}.yaml`), YAML.stringify({ config: forkConfig(j, env, shape) }));
        stacks.push(`f${j}`);
      }
      const render = await renderStacks({ stacks, configDir: dir, clusterFiles: [path.join(dir, "cluster.yaml")] });
      check("140 services, 20 forks", render.cluster.all());
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("on a delegate VirtualService and a gateway-bound one, with fork routes as the plan writes them (test/fixtures/fork/payments.yaml)", () => {
    const objects: KubeObject[] = yamlDocs(path.join(ROOT, "test", "fixtures", "fork", "payments.yaml"));
    // Forks of ledger (gateway-bound: its fork routes apply to the mesh only) and of checkout (its
    // host delegates every request: the fork routes go into the delegate), and ids that prefix each other.
    for (const forkId of ["dev1", "dev12"]) {
      for (const [service, delegate] of [["ledger", undefined], ["checkout", { name: "checkout-routes", namespace: "payments" }]] as const) {
        const claim = { forkId, headerName: HEADER, service: { name: service, namespace: "payments" }, targetHost: serviceFqdn(`${service}-${forkId}`, "payments"), ...(delegate ? { delegate } : {}) };
        const vs = objects.filter((o) => o.kind === "VirtualService");
        const { target } = placeRoutes(vs, claim.service, delegate);
        const written = addForkRoutes(target, claim);
        objects.splice(objects.indexOf(target!), 1, written);
        const shared = objects.find((o) => o.kind === "Service" && o.metadata.name === service)!;
        objects.push({ ...shared, metadata: { name: `${service}-${forkId}`, namespace: "payments", labels: { "forkstack.dev/fork": forkId } } });
      }
    }
    check("payments: delegate and gateway-bound", objects);
  });

  it("on an app team's canary (subsets 90/10, a header match, retries) and a wildcard host, with forks whose ids prefix each other", () => {
    const objects: KubeObject[] = yamlDocs(path.join(EXAMPLES, "cluster", "shop.yaml"));
    objects.push(
      { apiVersion: "networking.istio.io/v1", kind: "DestinationRule", metadata: { name: "catalog", namespace: "shop" }, spec: { host: "catalog", subsets: [{ name: "v1", labels: { app: "catalog" } }, { name: "v2", labels: { app: "catalog" } }] } },
      {
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: "catalog", namespace: "shop" },
        spec: {
          hosts: ["catalog"],
          http: [
            { name: "beta-users", match: [{ headers: { "x-beta": { exact: "1" } } }], route: [{ destination: { host: "catalog", subset: "v2" } }] },
            { name: "canary", retries: { attempts: 2, perTryTimeout: "1s" }, route: [{ destination: { host: "catalog", subset: "v1" }, weight: 90 }, { destination: { host: "catalog", subset: "v2" }, weight: 10 }] },
          ],
        },
      },
      // Every other host of the namespace: an exact VirtualService wins over it (IST0109's rule as istiod applies it).
      { apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "shop-wide", namespace: "shop" }, spec: { hosts: ["*.shop.svc.cluster.local"], http: [{ name: "shop-wide", timeout: "3s", route: [{ destination: { host: "inventory.shop.svc.cluster.local" } }] }] } },
    );
    for (const forkId of ["alice", "alic"]) {
      const claim = { forkId, headerName: HEADER, service: { name: "catalog", namespace: "shop" }, targetHost: serviceFqdn(`catalog-${forkId}`, "shop") };
      const { target } = placeRoutes(objects.filter((o) => o.kind === "VirtualService"), claim.service);
      objects.splice(objects.indexOf(target!), 1, addForkRoutes(target, claim));
      const shared = objects.find((o) => o.kind === "Service" && o.metadata.name === "catalog")!;
      objects.push({ ...shared, metadata: { name: `catalog-${forkId}`, namespace: "shop", labels: { "forkstack.dev/fork": forkId } } });
    }
    check("canary subsets and a wildcard host", objects);
  });

  it("fails, naming the request and both answers, when a fork route sits below the default route in what istiod gets", async () => {
    const objects = await examples();
    const wrong = structuredClone(objects);
    const vs = wrong.find((o) => o.kind === "VirtualService" && ((o.spec as any).http ?? []).some((r: any) => r.name === "forkstack-alice"))!;
    const http = (vs.spec as any).http as any[];
    http.push(http.splice(http.findIndex((r) => r.name === "forkstack-alice"), 1)[0]);
    const requests = meshRequests(objects, HEADER);
    const result = compareAnswers(objects, requests, runIstioRoutes(state.istioRoutes!, wrong, requests));
    const lines = result.disagreements.map(formatDisagreement);
    assert.ok(lines.length > 0, "a fork route below the default route went unnoticed");
    assert.ok(lines.every((l) => l.includes("x-fork-identifier: alice)") && l.includes("explain route forkstack-alice") && l.includes("istiod route default")), lines.join("\n"));
  });
});
