/**
 * The JSON Patches a fork's route writes send (fork/routePatch.ts), checked by applying them with
 * the RFC 6902 applier: what they change, what they test, and that nothing else moves.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { addRoutesWrite, releaseRoutesWrite, removeRoutesWrite, RouteWrite, sweepRetiredWrite } from "../../components/fork/routePatch";
import { addForkRoutes, ForkRouteClaim, VirtualService } from "../../components/fork/routes";
import { applyJsonPatch, JsonPatchError, JsonPatchOp } from "../../components/kube/jsonPatch";

const appTeamVs = (): VirtualService => YAML.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures", "live", "shop-api-virtualservice.yaml"), "utf8"));
const claim = (forkId: string, targetHost = `api-${forkId}.shop.svc.cluster.local`): ForkRouteClaim => ({ forkId, headerName: "x-fork-identifier", service: { name: "api", namespace: "shop" }, targetHost });
const http = (vs: VirtualService): any[] => (vs.spec as any).http;
const names = (vs: VirtualService) => http(vs).map((r) => r.name);
const opsOf = (w: RouteWrite): JsonPatchOp[] => (w.kind === "patch" ? w.ops : fail(`expected a patch, got ${w.kind}`));
const patched = (vs: VirtualService, w: RouteWrite) => applyJsonPatch(vs, opsOf(w));
const withoutHttp = (vs: VirtualService) => ({ ...vs, spec: { ...(vs.spec as object), http: undefined } });

describe("adding a fork's routes", () => {
  const vs = appTeamVs();
  const write = addRoutesWrite(vs, claim("alice"));

  it("inserts them at the top, in the app routes' order, with no test", () => {
    expect(opsOf(write).map((o) => [o.op, o.path])).toEqual([
      ["add", "/spec/http/0"],
      ["add", "/spec/http/1"],
    ]);
  });

  it("writes exactly what the merge would", () => {
    expect(patched(vs, write)).toEqual(addForkRoutes(vs, claim("alice")));
  });

  it("leaves the app routes and every other field as they were", () => {
    const after = patched(vs, write);
    expect([http(after).slice(2), withoutHttp(after)]).toEqual([http(vs), withoutHttp(vs)]);
  });

  it("still lands above every app route after another fork inserted its own meanwhile", () => {
    const raced = patched(patched(vs, addRoutesWrite(vs, claim("bob"))), write);
    expect(names(raced)).toEqual(["forkstack-alice", "forkstack-alice--1", "forkstack-bob", "forkstack-bob--1", "v2-api", "default"]);
  });

  it("writes nothing when the fork's routes are already there as they should be", () => {
    expect(addRoutesWrite(patched(vs, write), claim("alice"))).toEqual({ kind: "none" });
  });

  it("falls back to a replace at the read version for a VirtualService without http routes", () => {
    const tcpOnly: VirtualService = { ...vs, spec: { hosts: ["api"], tcp: [{ route: [{ destination: { host: "api" } }] }] } };
    expect(addRoutesWrite(tcpOnly, claim("alice")).kind).toBe("replace");
  });
});

describe("changing a fork's routes (a new target)", () => {
  const both = addForkRoutes(addForkRoutes(appTeamVs(), claim("alice")), claim("bob"));
  const write = addRoutesWrite(both, claim("alice", "api-alice-2.shop.svc.cluster.local"));

  it("replaces them in place, each tested by name", () => {
    expect(opsOf(write).map((o) => [o.op, o.path, o.op === "test" ? o.value : undefined])).toEqual([
      ["test", "/spec/http/2/name", "forkstack-alice"],
      ["replace", "/spec/http/2", undefined],
      ["test", "/spec/http/3/name", "forkstack-alice--1"],
      ["replace", "/spec/http/3", undefined],
    ]);
  });

  it("touches no other fork's route and no app route", () => {
    const after = patched(both, write);
    expect([names(after), http(after)[0], http(after)[1], http(after).slice(4)]).toEqual([names(both), http(both)[0], http(both)[1], http(both).slice(4)]);
  });

  it("is rejected, changing nothing, when another fork inserted above it meanwhile", () => {
    const raced = patched(both, addRoutesWrite(both, claim("carol")));
    expect(() => applyJsonPatch(raced, opsOf(write))).toThrow(JsonPatchError);
  });

  it("moves the routes back to the top when an app route was put above them", () => {
    const vs = addForkRoutes(appTeamVs(), claim("alice"));
    const appFirst = { ...vs, spec: { ...(vs.spec as object), http: [http(vs)[2], http(vs)[0], http(vs)[1], http(vs)[3]] } };
    expect(names(patched(appFirst, addRoutesWrite(appFirst, claim("alice"))))).toEqual(["forkstack-alice", "forkstack-alice--1", "v2-api", "default"]);
  });

  it("removes a duplicate of its routes, leaving one copy", () => {
    const vs = addForkRoutes(appTeamVs(), claim("alice"));
    const dup = { ...vs, spec: { ...(vs.spec as object), http: [http(vs)[0], ...http(vs)] } };
    expect(names(patched(dup, addRoutesWrite(dup, claim("alice"))))).toEqual(["forkstack-alice", "forkstack-alice--1", "v2-api", "default"]);
  });
});

describe("removing a fork's routes", () => {
  const both = addForkRoutes(addForkRoutes(appTeamVs(), claim("alice")), claim("bob"));
  const write = removeRoutesWrite(both, "bob", "x-fork-identifier");

  it("removes them last first, each tested by name", () => {
    expect(opsOf(write)).toEqual([
      { op: "test", path: "/spec/http/1/name", value: "forkstack-bob--1" },
      { op: "remove", path: "/spec/http/1" },
      { op: "test", path: "/spec/http/0/name", value: "forkstack-bob" },
      { op: "remove", path: "/spec/http/0" },
    ]);
  });

  it("leaves the others' routes and the app routes exactly as they were", () => {
    expect(patched(both, write)).toEqual(addForkRoutes(appTeamVs(), claim("alice")));
  });

  it("brings an adopted VirtualService back to its spec once the last fork left", () => {
    const one = addForkRoutes(appTeamVs(), claim("alice"));
    expect(patched(one, removeRoutesWrite(one, "alice", "x-fork-identifier")).spec).toEqual(appTeamVs().spec);
  });

  it("is rejected, changing nothing, when a route above it was removed meanwhile", () => {
    const raced = patched(both, removeRoutesWrite(both, "bob", "x-fork-identifier"));
    expect(() => applyJsonPatch(raced, opsOf(removeRoutesWrite(both, "alice", "x-fork-identifier")))).toThrow("testing value /spec/http/3/name failed");
  });

  it("does nothing for a fork without routes there", () => {
    expect(removeRoutesWrite(appTeamVs(), "alice", "x-fork-identifier")).toEqual({ kind: "none" });
  });

  it("deletes a VirtualService forkstack created once its last fork leaves", () => {
    const created = addForkRoutes(undefined, claim("alice"));
    expect(removeRoutesWrite(created, "alice", "x-fork-identifier")).toEqual({ kind: "delete" });
  });

  it("replaces at the read version when the fork's routes are all there is (the spec loses http again)", () => {
    const tcpOnly: VirtualService = { ...appTeamVs(), spec: { hosts: ["api"], tcp: [{ route: [{ destination: { host: "api" } }] }] } };
    const withFork = addForkRoutes(tcpOnly, claim("alice"));
    const w = removeRoutesWrite(withFork, "alice", "x-fork-identifier");
    expect([w.kind, w.kind === "replace" ? w.virtualService.spec : undefined]).toEqual(["replace", tcpOnly.spec]);
  });
});

describe("a fork leaving while other forks have routes there", () => {
  const three = addForkRoutes(addForkRoutes(addForkRoutes(appTeamVs(), claim("alice")), claim("bob")), claim("carol"));
  const retire = (vs: VirtualService, fork: string) => patched(vs, releaseRoutesWrite(vs, fork, "x-fork-identifier"));

  it("first renames its routes in place to their retired names, each tested by name", () => {
    expect(opsOf(releaseRoutesWrite(three, "bob", "x-fork-identifier"))).toEqual([
      { op: "test", path: "/spec/http/2/name", value: "forkstack-bob" },
      { op: "replace", path: "/spec/http/2/name", value: "forkstack-bob--gone" },
      { op: "test", path: "/spec/http/3/name", value: "forkstack-bob--1" },
      { op: "replace", path: "/spec/http/3/name", value: "forkstack-bob--1--gone" },
    ]);
  });

  it("changes nothing but those names: the retired routes still match only its header", () => {
    const after = retire(three, "bob");
    expect(http(after).map((r, i) => (i === 2 || i === 3 ? { ...r, name: http(three)[i].name } : r))).toEqual(http(three));
  });

  it("does not collide with another fork retiring at the same moment (renames shift nothing)", () => {
    const bobWrite = releaseRoutesWrite(three, "bob", "x-fork-identifier");
    const carolWrite = releaseRoutesWrite(three, "carol", "x-fork-identifier");
    expect(names(patched(patched(three, carolWrite), bobWrite))).toEqual([
      "forkstack-carol--gone",
      "forkstack-carol--1--gone",
      "forkstack-bob--gone",
      "forkstack-bob--1--gone",
      "forkstack-alice",
      "forkstack-alice--1",
      "v2-api",
      "default",
    ]);
  });

  it("then removes its retired routes, and nothing else, when it leaves on its own", () => {
    const bobRetired = retire(three, "bob");
    expect(names(retire(bobRetired, "bob"))).toEqual(["forkstack-carol", "forkstack-carol--1", "forkstack-alice", "forkstack-alice--1", "v2-api", "default"]);
  });

  it("sends that removal only once (best effort): other forks' routes are live", () => {
    const bobRetired = retire(three, "bob");
    expect(releaseRoutesWrite(bobRetired, "bob", "x-fork-identifier")).toMatchObject({ kind: "patch", bestEffort: true });
  });

  it("leaves its routes retired when another fork's are retired too (forks leaving together: a removal would shift their renames)", () => {
    const bothRetired = retire(retire(three, "carol"), "bob");
    expect([releaseRoutesWrite(bothRetired, "bob", "x-fork-identifier"), releaseRoutesWrite(bothRetired, "carol", "x-fork-identifier")]).toEqual([{ kind: "none" }, { kind: "none" }]);
  });

  it("as the last fork with live routes, removes every fork route at once: its own and those retired forks left behind", () => {
    const bothRetired = retire(retire(three, "carol"), "bob");
    const w = releaseRoutesWrite(bothRetired, "alice", "x-fork-identifier");
    expect([w.kind === "patch" && w.bestEffort, patched(bothRetired, w)]).toEqual([undefined, appTeamVs()]);
  });

  it("as the last fork with live routes in a VirtualService forkstack created, deletes it even with retired routes left there", () => {
    const created = addForkRoutes(addForkRoutes(undefined, claim("alice")), claim("bob"));
    expect(releaseRoutesWrite(retire(created, "bob"), "alice", "x-fork-identifier")).toEqual({ kind: "delete" });
  });

  it("makes the last fork's removal rejected, not wrong, when its own best-effort removal lands first", () => {
    const bobRetired = retire(three, "bob");
    const bobRemoval = releaseRoutesWrite(bobRetired, "bob", "x-fork-identifier");
    const allRetired = retire(bobRetired, "carol");
    const last = releaseRoutesWrite(allRetired, "alice", "x-fork-identifier");
    expect(() => patched(patched(allRetired, bobRemoval), last)).toThrow(JsonPatchError);
  });

  it("has nothing left to do once its retired routes are gone", () => {
    const bobRetired = retire(three, "bob");
    expect(releaseRoutesWrite(retire(bobRetired, "bob"), "bob", "x-fork-identifier")).toEqual({ kind: "none" });
  });

  it("removes its routes at once when no other fork has routes there", () => {
    const one = addForkRoutes(appTeamVs(), claim("alice"));
    expect(releaseRoutesWrite(one, "alice", "x-fork-identifier")).toEqual(removeRoutesWrite(one, "alice", "x-fork-identifier"));
  });
});

describe("a fork adding or changing its routes where forks left retired routes", () => {
  const three = addForkRoutes(addForkRoutes(addForkRoutes(appTeamVs(), claim("alice")), claim("bob")), claim("carol"));
  const retire = (vs: VirtualService, fork: string) => patched(vs, releaseRoutesWrite(vs, fork, "x-fork-identifier"));
  const bothRetired = retire(retire(three, "carol"), "bob");

  it("removes them after its own write, once (best effort), each tested by name", () => {
    const w = sweepRetiredWrite(bothRetired, "x-fork-identifier");
    expect([w.kind === "patch" && w.bestEffort, opsOf(w).filter((o) => o.op === "test").map((o) => (o as { value: unknown }).value), names(patched(bothRetired, w))]).toEqual([
      true,
      ["forkstack-bob--1--gone", "forkstack-bob--gone", "forkstack-carol--1--gone", "forkstack-carol--gone"],
      ["forkstack-alice", "forkstack-alice--1", "v2-api", "default"],
    ]);
  });

  it("writes nothing when no route is retired", () => {
    expect(sweepRetiredWrite(three, "x-fork-identifier")).toEqual({ kind: "none" });
  });

  it("leaves an app route named like a retired fork route alone (it does not match only a fork's header)", () => {
    const vs = appTeamVs();
    const impostor = { ...vs, spec: { ...(vs.spec as object), http: [{ ...http(vs)[0], name: "forkstack-mallory--gone" }, ...http(vs).slice(1)] } };
    expect(sweepRetiredWrite(addForkRoutes(impostor, claim("alice")), "x-fork-identifier")).toEqual({ kind: "none" });
  });
});
