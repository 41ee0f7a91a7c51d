/**
 * The ForkRoutes dynamic resource: its provider (create/update/delete through getClusterAccess),
 * the render's handler, and — the part mocks never exercise — the provider as Pulumi ships it: a
 * serialized closure loaded from text in another process
 * (https://www.pulumi.com/docs/iac/concepts/resources/dynamic-providers/).
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { asError, FORK_ROUTES_KIND, ForkRoutes, forkRoutesProvider, ForkRoutesState } from "../../components/fork/forkRoutes";
import { forkRoutesHandler } from "../../render/simulatedApi";
import { resetClusterAccessFactory, setClusterAccessFactory } from "../../components/kube/access";
import { isForkRoute } from "../../components/naming";
import { KubeObject, SimulatedCluster } from "../../render/cluster";
import { MASKED, runStack } from "../../render/runtime";
import { simulatedAccess } from "../../render/simulatedApi";
import { FakeKubeApi, startFakeKubeApi } from "../helpers/fakeKubeApi";

const STATE: ForkRoutesState = {
  forkstackKind: FORK_ROUTES_KIND,
  kubeconfig: "apiVersion: v1",
  context: "",
  forkId: "alice",
  headerName: "x-fork-identifier",
  serviceName: "api",
  serviceNamespace: "shop",
  targetHost: "api-alice.shop.svc.cluster.local",
};

const vsList = (cluster: SimulatedCluster) => cluster.list("networking.istio.io/v1", "VirtualService");
const forkRouteNames = (vs: KubeObject) => ((vs.spec as any).http as { name?: string }[]).map((r) => r.name).filter(isForkRoute);

describe("forkRoutesProvider", () => {
  let cluster: SimulatedCluster;
  const kubeconfigs: string[] = [];

  beforeEach(() => {
    cluster = new SimulatedCluster();
    setClusterAccessFactory(async (kubeconfig) => {
      kubeconfigs.push(kubeconfig);
      return simulatedAccess(cluster);
    });
  });
  afterEach(() => resetClusterAccessFactory());

  it("reports no change when no input changed and the live routes stand", async () => {
    const { outs } = await forkRoutesProvider.create(STATE);
    expect(await forkRoutesProvider.diff!("id", outs, STATE)).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
  });

  it("sees a route another fork left retired there as a change, and the update sweeps it", async () => {
    const { outs } = await forkRoutesProvider.create(STATE);
    const [vs] = vsList(cluster);
    const retired = { name: "forkstack-carol--gone", match: [{ headers: { "x-fork-identifier": { exact: "carol" } } }], route: [{ destination: { host: "api-carol.shop.svc.cluster.local" } }] };
    cluster.put({ ...vs, spec: { ...(vs.spec as any), http: [retired, ...(vs.spec as any).http] } });
    expect(await forkRoutesProvider.diff!("id", outs, STATE)).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    await forkRoutesProvider.update!("id", outs, STATE);
    expect(((vsList(cluster)[0].spec as any).http as { name: string }[]).map((r) => r.name)).toEqual(["forkstack-alice", "default"]);
    expect((await forkRoutesProvider.diff!("id", outs, STATE)).changes).toBe(false);
  });

  /** Removes the fork's routes out of band, as a GitOps sync of the app's VirtualService would. */
  function syncAppVersion(): void {
    const [vs] = vsList(cluster);
    cluster.put({ ...vs, spec: { ...(vs.spec as any), http: (vs.spec as any).http.filter((r: any) => !isForkRoute(r.name)) } });
  }

  it("sees a fork route removed out of band as a change on the next up", async () => {
    const { outs } = await forkRoutesProvider.create(STATE);
    syncAppVersion();
    expect((await forkRoutesProvider.diff!("id", outs, STATE)).changes).toBe(true);
  });

  it("reports a fork route removed out of band on refresh", async () => {
    const { outs } = await forkRoutesProvider.create(STATE);
    syncAppVersion();
    expect((await forkRoutesProvider.read!("id", outs)).props?.routes).toBe("missing");
  });

  it("reports an edited fork route as changed on refresh", async () => {
    const { outs } = await forkRoutesProvider.create(STATE);
    const [vs] = vsList(cluster);
    const http = (vs.spec as any).http;
    http[0].route[0].destination.host = "elsewhere.shop.svc.cluster.local";
    cluster.put({ ...vs, spec: { ...(vs.spec as any), http } });
    expect((await forkRoutesProvider.read!("id", outs)).props?.routes).toBe("changed");
  });

  it("restores a fork route removed out of band on update", async () => {
    const { outs } = await forkRoutesProvider.create(STATE);
    syncAppVersion();
    await forkRoutesProvider.update!("id", outs, STATE);
    expect(forkRouteNames(vsList(cluster)[0])).toEqual(["forkstack-alice"]);
  });

  it("fails when a written route is not there when read back", async () => {
    setClusterAccessFactory(async () => {
      const access = simulatedAccess(cluster);
      // A mutating webhook that strips every fork route on write.
      const strip = (vs: KubeObject): KubeObject => ({ ...vs, spec: { ...(vs.spec as any), http: ((vs.spec as any).http ?? []).filter((r: any) => !isForkRoute(r.name)) } });
      return { ...access, virtualServices: { ...access.virtualServices, create: (vs) => access.virtualServices.create(strip(vs)), replace: (vs) => access.virtualServices.replace(strip(vs)) } };
    });
    await expect(forkRoutesProvider.create(STATE)).rejects.toThrow(/were written but are missing when read back/);
  });

  it("updates in place, never replaces, when an input changed", async () => {
    expect(await forkRoutesProvider.diff!("id", STATE, { ...STATE, targetHost: "other.shop.svc.cluster.local" })).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
  });

  it("creates the fork's route and records where it wrote", async () => {
    const { id, outs } = await forkRoutesProvider.create(STATE);
    const [vs] = vsList(cluster);
    expect([id, outs.virtualServiceName, outs.virtualServiceNamespace, forkRouteNames(vs)]).toEqual(["shop/api/alice", vs.metadata.name, "shop", ["forkstack-alice"]]);
  });

  it("reaches the cluster with the kubeconfig of its inputs", async () => {
    kubeconfigs.length = 0;
    await forkRoutesProvider.create(STATE);
    expect(kubeconfigs).toEqual(["apiVersion: v1"]);
  });

  it("moves the route when the Service changed, taking it out of the old Service's VirtualService", async () => {
    const { outs } = await forkRoutesProvider.create(STATE);
    await forkRoutesProvider.update!("id", outs, { ...STATE, serviceName: "cart", targetHost: "cart-alice.shop.svc.cluster.local" });
    expect(vsList(cluster).map((v) => (v.spec as any).hosts)).toEqual([["cart.shop.svc.cluster.local"]]);
  });

  it("removes the route on delete", async () => {
    const { outs } = await forkRoutesProvider.create(STATE);
    await forkRoutesProvider.delete!("id", outs);
    expect(vsList(cluster)).toEqual([]);
  });
});

describe("forkRoutesHandler in the offline render", () => {
  const program = () => {
    const routes = new ForkRoutes("api-routes", {
      kubeconfig: pulumi.secret("apiVersion: v1"),
      forkId: "alice",
      headerName: "x-fork-identifier",
      serviceName: "api",
      serviceNamespace: "shop",
      targetHost: "api-alice.shop.svc.cluster.local",
    });
    return { name: routes.virtualServiceName, namespace: routes.virtualServiceNamespace };
  };

  it("writes the route into the simulated cluster and outputs the VirtualService's name", async () => {
    const cluster = new SimulatedCluster();
    const result = await runStack({ stack: "alice", config: {}, cluster, program, dynamicHandlers: { [FORK_ROUTES_KIND]: forkRoutesHandler } });
    const [vs] = vsList(cluster);
    expect([result.outputs, forkRouteNames(vs)]).toEqual([{ name: vs.metadata.name, namespace: "shop" }, ["forkstack-alice"]]);
  });

  it("records the kubeconfig input masked", async () => {
    const result = await runStack({ stack: "alice", config: {}, cluster: new SimulatedCluster(), program, dynamicHandlers: { [FORK_ROUTES_KIND]: forkRoutesHandler } });
    const recorded = result.resources.find((r) => r.name === "api-routes")!;
    expect([recorded.inputs.forkstackKind, recorded.inputs.kubeconfig]).toEqual([FORK_ROUTES_KIND, MASKED]);
  });
});

/**
 * Serializes the provider exactly as `pulumi.dynamic.Resource` does and runs one method in a plain
 * `node` process, loading the text with require-from-string as Pulumi's dynamic-provider host does
 * (@pulumi/pulumi cmd/dynamic-provider). Nothing of this test process is shared but the text.
 */
function runSerialized(file: string, method: "create" | "update" | "delete", args: unknown[]): Promise<any> {
  const script = `
    const requireFromString = require(require.resolve("require-from-string", { paths: [require.resolve("@pulumi/pulumi")] }));
    const provider = requireFromString(require("fs").readFileSync(process.argv[1], "utf8")).handler();
    provider[process.argv[2]](...JSON.parse(process.argv[3])).then(
      (r) => process.stdout.write(JSON.stringify(r === undefined ? null : r)),
      (e) => { process.stderr.write(String(e && e.message)); process.exitCode = 1; });`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ["-e", script, file, method, JSON.stringify(args)], { cwd: path.resolve(__dirname, "../.."), timeout: 30_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(stderr || err.message)) : resolve(JSON.parse(stdout)),
    );
  });
}

/** The provider as pulumi.dynamic.Resource ships it (dynamic/index.ts, serializeProvider), in a file of a temporary folder. */
async function serializedProviderFile(): Promise<string> {
  const serialized = await pulumi.runtime.serializeFunction(() => forkRoutesProvider, { allowSecrets: true });
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "forkroutes-")), "provider.js");
  fs.writeFileSync(file, serialized.text);
  return file;
}

describe("serializing the provider", () => {
  afterEach(() => resetClusterAccessFactory());

  it("captures none of a simulated cluster set as the access factory", async () => {
    const cluster = new SimulatedCluster();
    cluster.seedYaml("apiVersion: v1\nkind: Namespace\nmetadata: { name: marker-namespace-in-the-cluster }\n");
    setClusterAccessFactory(async () => simulatedAccess(cluster));
    const { text } = await pulumi.runtime.serializeFunction(() => forkRoutesProvider, { allowSecrets: true });
    expect([text.includes("marker-namespace-in-the-cluster"), /require\("yaml/.test(text)]).toEqual([false, false]);
  });
});

describe("the serialized provider in another process, over HTTP", () => {
  let api: FakeKubeApi;
  let file: string;

  beforeAll(async () => {
    api = await startFakeKubeApi();
    file = await serializedProviderFile();
  });
  afterAll(() => {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    return api.close();
  });

  it("creates, moves and deletes the fork's routes with client-node loaded where it runs", async () => {
    const state = { ...STATE, kubeconfig: api.kubeconfig };
    const created = await runSerialized(file, "create", [state]);
    const afterCreate = api.virtualServices().map((v) => [(v.spec as any).hosts, forkRouteNames(v)]);
    const moved = { ...state, serviceName: "cart", targetHost: "cart-alice.shop.svc.cluster.local" };
    await runSerialized(file, "update", [created.id, created.outs, moved]);
    const afterUpdate = api.virtualServices().map((v) => [(v.spec as any).hosts, forkRouteNames(v)]);
    await runSerialized(file, "delete", [created.id, { ...moved, virtualServiceName: "x" }]);
    expect([afterCreate, afterUpdate, api.virtualServices()]).toEqual([
      [[["api.shop.svc.cluster.local"], ["forkstack-alice"]]],
      [[["cart.shop.svc.cluster.local"], ["forkstack-alice"]]],
      [],
    ]);
  }, 60_000);
});

describe("errors from the serialized provider: one line, what was being done, what went wrong, the fix", () => {
  let file: string;
  beforeAll(async () => void (file = await serializedProviderFile()));
  afterAll(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }));

  const appVs = (name: string) => ({
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name, namespace: "shop" },
    spec: { hosts: ["api.shop.svc.cluster.local"], http: [{ route: [{ destination: { host: "api.shop.svc.cluster.local" } }] }] },
  });

  async function createFails(options: Parameters<typeof startFakeKubeApi>[0]): Promise<string> {
    const api = await startFakeKubeApi(options);
    try {
      return await runSerialized(file, "create", [{ ...STATE, kubeconfig: api.kubeconfig }]).then(
        () => "(no error)",
        // The error is the last line: the provider's warnings (no turn at a Lease) come before it.
        (e: Error) => e.message.split("\n").pop()!,
      );
    } finally {
      await api.close();
    }
  }

  // (429 takes the same path, with more waiting: each write is retried where it is sent first.)
  it("every write of the VirtualService answered 503: the retries' end, named, with the fix", async () => {
    const message = await createFails({ seed: [appVs("api")], fault: (_n, r) => (r.method !== "GET" && r.path.includes("virtualservices") ? "503" : undefined) });
    expect(message).toMatch(/^adding routes of fork "alice" for Service shop\/api: gave up after 10 attempts, every write conflicted with a concurrent change \(last: .*\); run the update again$/);
    expect(message).not.toMatch(/__f\d|not an Error|\n/);
  }, 120_000);

  it("every VirtualService request answered 503: what was being done, the server's answer and the fix", async () => {
    const message = await createFails({ seed: [appVs("api")], fault: (_n, r) => (r.path.includes("virtualservices") ? "503" : undefined) });
    expect(message).toMatch(/^adding routes of fork "alice": listing VirtualServices: HTTP 503: .*; the API server kept failing through every retry \(overloaded or restarting\): run the update again$/);
  }, 120_000);

  it("a refusal of ours (two VirtualServices for the host) keeps its message", async () => {
    const message = await createFails({ seed: [appVs("api"), appVs("api-2")] });
    expect(message).toBe('adding routes of fork "alice": VirtualServices shop/api and shop/api-2 both cover api.shop.svc.cluster.local');
    expect(message).not.toMatch(/__f\d|not an Error/);
  }, 60_000);
});

describe("a fork leaving a VirtualService other forks keep, under faults", () => {
  let file: string;
  beforeAll(async () => void (file = await serializedProviderFile()));
  afterAll(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }));

  const routeNamesOf = (api: FakeKubeApi) => api.virtualServices().map((v) => ((v.spec as any).http as { name?: string }[]).map((r) => r.name));
  const bob = { ...STATE, forkId: "bob", targetHost: "api-bob.shop.svc.cluster.local" };

  /** alice and bob have routes in the api VirtualService; then `removals` answer 503 while alice leaves. */
  async function aliceLeaves(removals: (n: number) => boolean): Promise<{ api: FakeKubeApi; outcome: string }> {
    let faulty = false;
    let removalsSeen = 0;
    const api = await startFakeKubeApi({
      fault: (_n, r) => (faulty && r.method === "PATCH" && r.body.includes('"op":"remove"') && removals(++removalsSeen) ? "503" : undefined),
    });
    for (const s of [STATE, bob]) await runSerialized(file, "create", [{ ...s, kubeconfig: api.kubeconfig }]);
    faulty = true;
    const outcome = await runSerialized(file, "delete", ["shop/api/alice", { ...STATE, kubeconfig: api.kubeconfig }]).then(
      () => "ok",
      (e: Error) => e.message.split("\n").pop()!,
    );
    return { api, outcome };
  }

  it("the removal of its retired route answered 503 once: retried, nothing of alice is left, bob's route stands", async () => {
    const { api, outcome } = await aliceLeaves((n) => n === 1);
    try {
      expect([outcome, routeNamesOf(api), api.leases()]).toEqual(["ok", [["forkstack-bob", "default"]], []]);
    } finally {
      await api.close();
    }
  }, 60_000);

  it("every removal answered 503: the destroy fails saying what may be left and what removes it, and bob's route stands", async () => {
    const { api, outcome } = await aliceLeaves(() => true);
    try {
      expect(outcome).toMatch(/^removing routes of fork "alice" for Service shop\/api: gave up after 10 attempts, every write conflicted with a concurrent change \(last: patching VirtualService shop\/forkstack-api: the server is currently unable to handle the request; it may or may not have been applied\); run the update again; fork alice's routes may be left in the Service's VirtualService \(retired ones, forkstack-alice--gone, match only its own header\); the next pulumi up or destroy of the fork removes them$/);
      expect(routeNamesOf(api)).toEqual([["forkstack-bob", "forkstack-alice--gone", "default"]]);
    } finally {
      await api.close();
    }
  }, 120_000);
});

describe("asError (what the engine is told when a provider call fails)", () => {
  it("describes a thrown plain object instead of letting the host report 'Unknown Error', credentials redacted", () => {
    const err = asError({ code: 422, body: { message: "denied" }, token: "s3cr3t" }, 'removing routes of fork "bob"');
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/^removing routes of fork "bob": failed with \{"code":422,"body":\{"message":"denied"\},"token":/);
    expect(err.message).not.toContain("s3cr3t");
  });

  it("keeps the message of an error-like value that is not an Error of this realm, said once", () => {
    expect(asError({ name: "ConflictRetriesExhaustedError", message: 'removing routes of fork "bob": gave up after 10 attempts' }, 'removing routes of fork "bob"').message).toBe(
      'removing routes of fork "bob": gave up after 10 attempts',
    );
  });

  it("names a serialized error that lost its message by its name and fields", () => {
    const err = asError({ name: "ConflictRetriesExhaustedError", attempts: 10 }, 'adding routes of fork "alice"');
    expect([err.name, err.message]).toEqual(["ConflictRetriesExhaustedError", 'adding routes of fork "alice": ConflictRetriesExhaustedError {"name":"ConflictRetriesExhaustedError","attempts":10}']);
  });

  it("passes an Error that already says what was being done through as it is, and prefixes one that does not", () => {
    const original = new Error('adding routes of fork "alice" for Service shop/api: HTTP 403: forbidden');
    expect(asError(original, 'adding routes of fork "alice"')).toBe(original);
    expect(asError(new Error("HTTP 403: forbidden"), 'adding routes of fork "alice"').message).toBe('adding routes of fork "alice": HTTP 403: forbidden');
  });

  it("describes a thrown string and undefined", () => {
    expect(asError("boom", "w").message).toBe('w: failed with "boom"');
    expect(asError(undefined, "w").message).toBe("w: failed with undefined");
  });
});
