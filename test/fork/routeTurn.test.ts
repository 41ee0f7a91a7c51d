/**
 * Forks of one Service take turns to write its routes (components/fork/routeTurn.ts).
 *
 * Through the live path (routeSync over the real client-node adapter in a child process, as
 * test/fork/concurrency.test.ts explains) against the fake API server, which keeps the API
 * server's Lease rules: many forks at once, a holder that died, one that never lets go, a fork
 * group without Leases. Renewal and the edges of the Lease's life are driven through `inTurn`
 * directly over an in-memory LeaseApi with the same rules, where timing can be controlled.
 */
import { HANDOFF_SECONDS, inTurn, microTime, turnLease, TurnStats } from "../../components/fork/routeTurn";
import type { ForkRouteClaim } from "../../components/fork/routes";
import { ConflictError, Lease, LeaseApi } from "../../components/kube/vsApi";
import { isForkRoute, serviceFqdn, turnLeaseName, turnTicketName } from "../../components/naming";
import type { KubeObject } from "../../render/cluster";
import { ClaimOutcome, spawnJob, stopJobWorker } from "../helpers/concurrentWriters";
import { FakeKubeApi, startFakeKubeApi } from "../helpers/fakeKubeApi";
import { validateAgainstSchema } from "../helpers/schemas";

const FORKS = Array.from({ length: 20 }, (_, i) => `dev${String(i + 1).padStart(2, "0")}`);
const claimOf = (forkId: string): ForkRouteClaim => ({ forkId, headerName: "x-fork-identifier", service: { name: "api", namespace: "shop" }, targetHost: serviceFqdn(`api-${forkId}`, "shop") });
const routeNames = (vs: KubeObject): string[] => ((vs.spec as any).http ?? []).map((r: { name?: string }) => r.name);
const vsRequests = (api: FakeKubeApi) => api.requests.filter((r) => r.path.includes("/virtualservices"));
const leaseRequests = (api: FakeKubeApi) => api.requests.filter((r) => r.path.includes("/leases"));

/** A Lease another writer holds, as the server stores it. */
function heldBy(holder: string, seconds: number): KubeObject {
  return { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: turnLeaseName("api"), namespace: "shop" }, spec: { holderIdentity: holder, leaseDurationSeconds: seconds, renewTime: microTime(Date.now()) } };
}

afterAll(() => stopJobWorker());

describe("twenty forks adding routes for one Service at once, taking turns", () => {
  let api: FakeKubeApi;
  let applied: ClaimOutcome[];
  let afterApply: KubeObject[];
  let released: ClaimOutcome[];

  beforeAll(async () => {
    api = await startFakeKubeApi();
    applied = await spawnJob({ op: "apply", kubeconfig: api.kubeconfig, claims: FORKS.map(claimOf), turns: { pollMs: 20, maxPollMs: 100 } });
    afterApply = api.virtualServices();
    released = await spawnJob({ op: "release", kubeconfig: api.kubeconfig, claims: FORKS.map(claimOf), turns: { pollMs: 20, maxPollMs: 100 } });
  }, 120_000);

  afterAll(() => api.close());

  it("every fork held the turn and its route landed exactly once", () => {
    expect(applied.map((o) => ["ok" in o, o.turn?.held, o.unqueued])).toEqual(FORKS.map(() => [true, true, []]));
    expect(routeNames(afterApply[0]).filter(isForkRoute).sort()).toEqual(FORKS.map((f) => `forkstack-${f}`));
  });

  it("one writer at a time: no fork's calls to the VirtualService overlap another's", () => {
    const spans = applied.map((o) => o.span!).sort((a, b) => a[0] - b[0]);
    expect(spans).toHaveLength(FORKS.length);
    const overlaps = spans.filter((s, i) => i > 0 && s[0] < spans[i - 1][1]);
    expect(overlaps).toEqual([]);
  });

  it("so one read per fork and no write the server refused, where all at once the creates collide", () => {
    // Without turns, 20 forks creating the one VirtualService at once get 409 AlreadyExists and
    // read again (concurrency.test.ts asserts those conflicts happen).
    const vs = vsRequests(api);
    expect(vs.filter((r) => r.status === 409 || r.status === 422)).toEqual([]);
    expect(vs.filter((r) => r.method === "GET" && r.path.endsWith("/virtualservices")).length).toBe(FORKS.length * 2);
  });

  it("the turns were contended (creates of the Lease answered 409) and every Lease is gone afterwards", () => {
    expect(leaseRequests(api).filter((r) => r.method === "POST" && r.status === 409).length).toBeGreaterThan(0);
    expect(api.leases()).toEqual([]);
  });

  it("releases every fork, in turn, and deletes the VirtualService forkstack created", () => {
    expect(released.map((o) => ["ok" in o, o.turn?.held])).toEqual(FORKS.map(() => [true, true]));
    expect(api.virtualServices()).toEqual([]);
  });
});

describe("a turn that does not come", () => {
  let api: FakeKubeApi | undefined;
  afterEach(() => api?.close());

  it("passes over a holder that stopped renewing once its Lease has not changed for its duration", async () => {
    api = await startFakeKubeApi({ seed: [heldBy("gone/abc", 1)] });
    const [outcome] = (await spawnJob({ op: "apply", kubeconfig: api.kubeconfig, claims: [claimOf("dev01")], turns: { pollMs: 50, maxPollMs: 100 } })) as ClaimOutcome[];
    expect(["ok" in outcome, outcome.turn?.held]).toEqual([true, true]);
    // Measured from when it first saw that version: at least the Lease's 1 s.
    expect(outcome.turn!.waitedMs).toBeGreaterThanOrEqual(1000);
    expect(routeNames(api.virtualServices()[0])).toContain("forkstack-dev01");
    expect(api.leases()).toEqual([]);
  });

  it("writes without a turn after waitMs when another writer keeps it, and leaves that writer's Lease alone", async () => {
    api = await startFakeKubeApi({ seed: [heldBy("busy/abc", 60)] });
    const [outcome] = (await spawnJob({ op: "apply", kubeconfig: api.kubeconfig, claims: [claimOf("dev01")], turns: { waitMs: 500, pollMs: 50, maxPollMs: 100 } })) as ClaimOutcome[];
    expect(["ok" in outcome, outcome.turn?.held, outcome.unqueued]).toEqual([true, false, [`no turn at Lease shop/${turnLeaseName("api")} within 1 s; writing without one`]]);
    expect(routeNames(api.virtualServices()[0])).toContain("forkstack-dev01");
    expect(api.leases().map((l) => (l.spec as { holderIdentity: string }).holderIdentity)).toEqual(["busy/abc"]);
  });

  it("waits by checking alone, asking for a watch once, when the fork role may not watch Leases (a base of an earlier release)", async () => {
    api = await startFakeKubeApi({ seed: [heldBy("gone/abc", 1)], leaseWatch: "forbidden" });
    const [outcome] = (await spawnJob({ op: "apply", kubeconfig: api.kubeconfig, claims: [claimOf("dev01")], turns: { pollMs: 50, maxPollMs: 100 } })) as ClaimOutcome[];
    expect(["ok" in outcome, outcome.turn?.held]).toEqual([true, true]);
    expect(api.requests.filter((r) => r.path.endsWith("?watch=true")).map((r) => r.status)).toEqual([403]);
  });

  it("writes without a turn, saying why, when the fork group may not use Leases (a base stack of an earlier release)", async () => {
    api = await startFakeKubeApi({ leases: "forbidden" });
    const outcomes = (await spawnJob({ op: "apply", kubeconfig: api.kubeconfig, claims: FORKS.slice(0, 3).map(claimOf), turns: {} })) as ClaimOutcome[];
    expect(outcomes.map((o) => ["ok" in o, o.turn?.held, o.turn?.checks])).toEqual([
      [true, false, 1],
      [true, false, 1],
      [true, false, 1],
    ]);
    expect(outcomes[0].unqueued).toEqual([expect.stringMatching(/^no turn at Lease shop\/forkstack-routes\.api \(reading Lease .*HTTP 403: .*forbidden.*\); writing without one$/)]);
    expect(routeNames(api.virtualServices()[0]).filter(isForkRoute)).toHaveLength(3);
  });
});

/** Leases in memory with the API server's rules (resourceVersion, AlreadyExists, create on PUT, delete preconditions); every call recorded. */
function memoryLeases() {
  const store = new Map<string, Lease>();
  let version = 100;
  const calls: string[] = [];
  const watchers = new Set<{ k: string; changed: (lease: Lease | undefined) => void }>();
  const changed = (k: string) => {
    for (const w of watchers) if (w.k === k) w.changed(store.has(k) ? structuredClone(store.get(k)) : undefined);
  };
  const key = (ns: string, name: string) => `${ns}/${name}`;
  const api: LeaseApi = {
    async get(ns, name) {
      calls.push("get");
      const found = store.get(key(ns, name));
      return found && structuredClone(found);
    },
    async list(ns, { labelSelector, prefix }) {
      calls.push("list");
      const [label, value] = labelSelector.split("=");
      return [...store.values()].filter((l) => l.metadata.namespace === ns && l.metadata.name.startsWith(prefix) && l.metadata.labels?.[label] === value).map((l) => structuredClone(l));
    },
    async create(lease) {
      calls.push("create");
      const k = key(lease.metadata.namespace!, lease.metadata.name);
      if (store.has(k)) throw new ConflictError(`leases "${lease.metadata.name}" already exists`);
      // creationTimestamp as the server sets it: whole seconds (a test may seed one from the past).
      const created = lease.metadata.creationTimestamp ?? new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace(".000Z", "Z");
      const stored = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(++version), uid: `uid-${version}`, creationTimestamp: created } };
      store.set(k, stored);
      changed(k);
      return structuredClone(stored);
    },
    async replace(lease) {
      calls.push("replace");
      const k = key(lease.metadata.namespace!, lease.metadata.name);
      const live = store.get(k);
      // As kube-apiserver does for Leases (AllowCreateOnUpdate): a PUT of a missing one creates it.
      if (!live) {
        const created = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(++version), uid: `uid-${version}` } };
        store.set(k, created);
        changed(k);
        return structuredClone(created);
      }
      if (live.metadata.resourceVersion !== lease.metadata.resourceVersion) throw new ConflictError("modified");
      const stored = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(++version) } };
      store.set(k, stored);
      changed(k);
      return structuredClone(stored);
    },
    async delete(ns, name, pre) {
      calls.push("delete");
      const live = store.get(key(ns, name));
      if (!live) return;
      if ((pre.uid !== undefined && pre.uid !== live.metadata.uid) || (pre.resourceVersion !== undefined && pre.resourceVersion !== live.metadata.resourceVersion)) throw new ConflictError("precondition");
      store.delete(key(ns, name));
      changed(key(ns, name));
    },
    watch(ns, name, onChange) {
      calls.push("watch");
      const w = { k: key(ns, name), changed: onChange };
      watchers.add(w);
      return () => watchers.delete(w);
    },
  };
  return { api, store, calls, watchers };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const service = { name: "api", namespace: "shop" };

/** One writer whose create of the Lease is applied but answered with `answer` (its real answer lost). */
async function afterAppliedCreate(answer: Error): Promise<{ wrote: boolean; turn: TurnStats; leasesLeft: number }> {
  const leases = memoryLeases();
  const create = leases.api.create;
  leases.api.create = async (lease) => {
    await create(lease);
    throw answer;
  };
  const turns: TurnStats[] = [];
  let wrote = false;
  await inTurn(leases.api, { service, holder: "a" }, async () => void (wrote = true), { onTurn: (t) => turns.push(t), leaseSeconds: 60 });
  return { wrote, turn: turns[0], leasesLeft: leases.store.size };
}

/**
 * Writer a holds the turn for a 1 s write, three times its 0.3 s Lease (renewed every 100 ms);
 * writer b asks 50 ms later. Resolves to when each write started and ended.
 */
async function longWriteThenAnother(leases: LeaseApi): Promise<Record<"a" | "b", [number, number]>> {
  const spans = {} as Record<"a" | "b", [number, number]>;
  const opts = { leaseSeconds: 0.3, pollMs: 10, maxPollMs: 20 };
  const timed = (who: "a" | "b", ms: number) => async () => {
    const start = Date.now();
    await sleep(ms);
    spans[who] = [start, Date.now()];
  };
  const a = inTurn(leases, { service, holder: "a" }, timed("a", 1000), opts);
  await sleep(50);
  await Promise.all([a, inTurn(leases, { service, holder: "b" }, timed("b", 10), opts)]);
  return spans;
}

describe("inTurn", () => {
  it("creates a Lease the API server's published schema accepts, with microsecond times", () => {
    const lease = turnLease({ service, holder: "dev01/x1" }, 15, Date.parse("2026-12-02T10:00:00.123Z"));
    expect(() => validateAgainstSchema(lease)).not.toThrow();
    expect([lease.metadata.name, (lease.spec as any).renewTime]).toEqual(["forkstack-routes.api", "2026-12-02T10:00:00.123000Z"]);
  });

  it("a holder whose write outlasts the Lease renews it, so the next writer waits for the write to end", async () => {
    const leases = memoryLeases();
    const spans = await longWriteThenAnother(leases.api);
    expect(spans.b[0]).toBeGreaterThanOrEqual(spans.a[1]);
    // Every 100 ms for one second.
    expect(leases.calls.filter((c) => c === "replace").length).toBeGreaterThanOrEqual(5);
    expect(leases.store.size).toBe(0);
  });

  describe("a turn is bounded by work, not by patience", () => {
    /** a holds the turn for a 3 s write; b asks 50 ms later. When did b start, and did a's write still run? */
    async function stuckHolder(a: { maxHoldSeconds: number }, b: { maxHoldSeconds: number }) {
      const leases = memoryLeases();
      const told: string[] = [];
      const base = { leaseSeconds: 0.3, pollMs: 10, maxPollMs: 20 };
      const t0 = Date.now();
      let aEnded = 0;
      const first = inTurn(leases.api, { service, holder: "a" }, async () => void (await sleep(3000), (aEnded = Date.now() - t0)), { ...base, ...a, onUnqueued: (why) => told.push(why) });
      await sleep(50);
      let bStarted = 0;
      await inTurn(leases.api, { service, holder: "b" }, async () => void (bStarted = Date.now() - t0), { ...base, ...b });
      await first;
      return { bStarted, aEnded, told, leasesLeft: leases.store.size };
    }

    it("a holder that renews forever (a stuck job of any release) is passed over once seen holding for maxHoldSeconds", async () => {
      const run = await stuckHolder({ maxHoldSeconds: 1000 }, { maxHoldSeconds: 0.5 });
      // b saw a at about 50 ms: its turn came at about 550 ms, while a's write still ran.
      expect(run.bStarted).toBeGreaterThanOrEqual(500);
      expect(run.bStarted).toBeLessThan(1500);
      expect(run.aEnded - run.bStarted).toBeGreaterThan(1000);
      expect(run.leasesLeft).toBe(0);
    }, 10_000);

    it("a holder stops renewing after maxHoldSeconds and says so; the next writer's turn comes when the Lease runs out", async () => {
      const run = await stuckHolder({ maxHoldSeconds: 0.5 }, { maxHoldSeconds: 1000 });
      // a renews until 500 ms; its Lease (0.3 s) runs out about 300 ms after its last renewal.
      expect(run.bStarted).toBeGreaterThanOrEqual(500);
      expect(run.bStarted).toBeLessThan(1500);
      expect(run.told).toEqual(["held the turn at Lease shop/forkstack-routes.api for 1 s, the longest a turn lasts; writing on without it"]);
    }, 10_000);
  });

  it("gives the turn back when the write fails, and rethrows its error", async () => {
    const leases = memoryLeases();
    await expect(inTurn(leases.api, { service, holder: "a" }, async () => Promise.reject(new Error("write failed")))).rejects.toThrow("write failed");
    // Nobody waits (the list of tickets is empty): the Lease is deleted.
    expect([leases.store.size, leases.calls]).toEqual([0, ["get", "create", "list", "delete"]]);
  });

  it("holds the turn at once when its own create was applied but answered 409 (a create retried after a timeout)", async () => {
    const run = await afterAppliedCreate(new ConflictError("already exists"));
    expect([run.wrote, run.turn.held, run.turn.checks, run.leasesLeft]).toEqual([true, true, 2, 0]);
  });

  it("a renewal applied whose answer was lost (the next one answers 409) keeps the turn: the Lease still names it", async () => {
    const leases = memoryLeases();
    const replace = leases.api.replace;
    let first = true;
    leases.api.replace = async (lease) => {
      const renewed = await replace(lease);
      if (!first) return renewed;
      first = false;
      throw new Error("renewing Lease shop/forkstack-routes.api: no answer within 5 s");
    };
    const spans = await longWriteThenAnother(leases.api);
    expect(spans.b[0]).toBeGreaterThanOrEqual(spans.a[1]);
  });

  it("gives the turn back soon after the write ends, waiting at most a renewal's time for one the server has not answered", async () => {
    const leases = memoryLeases();
    leases.api.replace = () => new Promise<Lease>(() => undefined);
    const start = Date.now();
    await inTurn(leases.api, { service, holder: "a" }, () => sleep(250), { leaseSeconds: 0.3 });
    expect([Date.now() - start < 1000, leases.store.size]).toEqual([true, 0]);
  });

  it("gives the turn back after a renewal in flight has landed, so the renewal cannot bring the deleted Lease back", async () => {
    const leases = memoryLeases();
    const replace = leases.api.replace;
    leases.api.replace = async (lease) => {
      await sleep(60);
      return replace(lease);
    };
    // Renewed at 100 ms, answered at 160 ms; the write ends at 120 ms.
    await inTurn(leases.api, { service, holder: "a" }, () => sleep(120), { leaseSeconds: 0.3 });
    await sleep(100);
    expect(leases.store.size).toBe(0);
  });

  it("a create applied whose answer never came writes without a turn and deletes the Lease naming it, so nobody waits for it", async () => {
    const run = await afterAppliedCreate(new Error("creating Lease shop/forkstack-routes.api: no answer within 30 s"));
    expect([run.wrote, run.turn.held, run.leasesLeft]).toEqual([true, false, 0]);
  });

  it("a callback that throws neither stops the write nor strands the Lease", async () => {
    const leases = memoryLeases();
    let wrote = false;
    const onTurn = () => {
      throw new Error("callback bug");
    };
    await inTurn(leases.api, { service, holder: "a" }, async () => void (wrote = true), { onTurn });
    expect([wrote, leases.store.size]).toEqual([true, 0]);
  });

  describe("waiters are served in the order they came", () => {
    /**
     * `a` holds the turn for a 300 ms write; the others ask at the given ms, polling with full
     * jitter up to 200 ms, and write for 30 ms each. Resolves to the order their writes started
     * and when (ms from the start).
     */
    async function queue(arrivals: Record<string, number>, leases = memoryLeases(), polling: { pollMs: number; maxPollMs: number } = { pollMs: 10, maxPollMs: 200 }) {
      const started: [string, number][] = [];
      const t0 = Date.now();
      const opts = { leaseSeconds: 1, ...polling };
      const write = (who: string, ms: number) => async () => {
        started.push([who, Date.now() - t0]);
        await sleep(ms);
      };
      const a = inTurn(leases.api, { service, holder: "a/1" }, write("a", 300), opts);
      const others = Object.entries(arrivals).map(async ([who, at]) => {
        await sleep(at);
        await inTurn(leases.api, { service, holder: `${who}/1` }, write(who, 30), opts);
      });
      await Promise.all([a, ...others]);
      return { order: started.map(([who]) => who), at: Object.fromEntries(started), left: [...leases.store.keys()], watching: leases.watchers.size };
    }

    it("each waiter takes a ticket; the holder hands the turn to the oldest, and nothing is left afterwards", async () => {
      const run = await queue({ b: 40, c: 70, d: 100, e: 130, f: 160 });
      expect([run.order, run.left]).toEqual([["a", "b", "c", "d", "e", "f"], []]);
    }, 10_000);

    it("a waiter handed the turn is woken by its watch and takes it at once, however seldom it checks on its own", async () => {
      // Checks every 1 to 2 s: without the wake-up each of the five handovers would wait for one.
      const run = await queue({ b: 40, c: 70, d: 100, e: 130, f: 160 }, memoryLeases(), { pollMs: 1000, maxPollMs: 2000 });
      expect([run.order, run.left, run.watching]).toEqual([["a", "b", "c", "d", "e", "f"], [], 0]);
      // a's write ends at about 300 ms, then five 30 ms writes one after another.
      expect(run.at.f).toBeLessThan(1000);
    }, 10_000);

    /**
     * Leases holding a ticket that `holder` took, created on the server `ago` ms ago, with its own
     * acquireTime `clockAgo` ms ago (a waiter's clock behind the server's), and nobody renews.
     */
    async function withTicket(holder: string, ago: number, clockAgo = ago) {
      const leases = memoryLeases();
      const lease = turnLease({ service, holder }, 1, Date.now() - clockAgo);
      const created = new Date(Date.now() - ago).toISOString();
      await leases.api.create({ ...lease, metadata: { ...lease.metadata, name: turnTicketName("api", holder), creationTimestamp: created } });
      return leases;
    }

    it("a waiter the turn was handed to that never takes it (it died waiting) is passed over after the handover's seconds, and its ticket goes", async () => {
      // dead/1 took a ticket before anyone else and then died: it never checks again.
      const leases = await withTicket("dead/1", 1000);
      const run = await queue({ b: 40 }, leases);
      expect([run.order, run.left]).toEqual([["a", "b"], []]);
      // a's write ends at about 300 ms; b sees dead/1's Lease unchanged for HANDOFF_SECONDS.
      expect(run.at.b).toBeGreaterThanOrEqual(300 + HANDOFF_SECONDS * 1000);
      expect(run.at.b).toBeLessThan(300 + HANDOFF_SECONDS * 1000 + 1500);
    }, 15_000);

    it("a live ticket whose writer's clock is an hour behind keeps its place: age is the server's", async () => {
      // skewed/1 asked 50 ms ago by the server's clock; its own acquireTime says an hour ago. It
      // never checks (as if its process stalled), so it is handed the turn and passed over.
      const leases = await withTicket("skewed/1", 50, 3_600_000);
      const run = await queue({ b: 40 }, leases);
      expect(run.order).toEqual(["a", "b"]);
      // b waited for skewed/1's handover to run out: the ticket was not taken for stale.
      expect(run.at.b).toBeGreaterThanOrEqual(300 + HANDOFF_SECONDS * 1000);
    }, 15_000);

    it("a ticket older than the longest wait (its writer gave up or died long ago) is deleted, never handed the turn", async () => {
      const leases = await withTicket("old/1", 3_600_000);
      const run = await queue({ b: 40 }, leases);
      expect([run.order, run.left]).toEqual([["a", "b"], []]);
      expect(run.at.b).toBeLessThan(1000);
    }, 10_000);

    it("a base of an earlier release (no list of Leases, no handover in its policy) frees the turn instead, and the next writer takes it", async () => {
      for (const broken of ["list", "replace"] as const) {
        const leases = memoryLeases();
        const forbidden = () => Promise.reject(Object.assign(new Error(`${broken === "list" ? "listing Leases in shop" : "renewing Lease shop/forkstack-routes.api"}: HTTP 403: forbidden`), { code: 403 }));
        if (broken === "list") leases.api.list = forbidden;
        else {
          // Only the handover is refused (a renewal keeps the holder and passes).
          const replace = leases.api.replace;
          leases.api.replace = (lease) => ((lease.spec as { holderIdentity?: string }).holderIdentity === "a/1" ? replace(lease) : forbidden());
        }
        const run = await queue({ b: 40 }, leases);
        expect([broken, run.order, run.left]).toEqual([broken, ["a", "b"], []]);
        expect(run.at.b).toBeLessThan(1000);
      }
    }, 10_000);
  });

  it("without a LeaseApi (the offline render) writes at once and touches nothing", async () => {
    let wrote = 0;
    await inTurn(undefined, { service, holder: "a" }, async () => void wrote++);
    expect(wrote).toBe(1);
  });
});
