/** forkstack:forkAccess of a base stack (components/config/access.ts): the shapes it accepts, and one line for each it refuses. */
import { NESTED_KEYS, parseBaseConfig } from "../../components/config";
import { configErrorOf } from "../helpers/configError";

const base = { domain: "dev.example.com", cluster: { mode: "kubeconfig" }, upstreams: [{ host: "shop.dev.example.com", service: "frontend.shop:80" }] };
const access = (forkAccess: Record<string, unknown>) => parseBaseConfig({ ...base, forkAccess }).forkAccess;
const refusal = (forkAccess: Record<string, unknown>) => configErrorOf(() => access(forkAccess));
const owner = (over: Record<string, unknown>) => ({ namespaces: { shop: ["default"] }, owners: [{ ids: ["alice"], users: ["dev-alice"], ...over }] });

describe("forkAccess.namespaces", () => {
  it("takes a list as the ServiceAccounts copies may run as, with no limit on Secrets", () => {
    expect(access({ namespaces: { shop: ["default", "api"] } }).namespaces).toEqual({ shop: { serviceAccounts: ["default", "api"] } });
  });

  it("takes the object form with ServiceAccounts and Secrets", () => {
    expect(access({ namespaces: { payments: { serviceAccounts: ["fork-runner"], secrets: ["payments-config"] } } }).namespaces).toEqual({
      payments: { serviceAccounts: ["fork-runner"], secrets: ["payments-config"] },
    });
  });

  it("keeps secrets: [] as no Secret at all, apart from secrets left out", () => {
    const ns = access({ namespaces: { a: { serviceAccounts: ["x"], secrets: [] }, b: { serviceAccounts: ["x"] } } }).namespaces;
    expect([ns.a.secrets, "secrets" in ns.b]).toEqual([[], false]);
  });

  it("refuses shared: the API server cannot limit a copy to the shared Deployment's own ServiceAccount", () => {
    const e = refusal({ namespaces: { shop: "shared" } });
    expect(e.field).toBe("forkstack:forkAccess.namespaces.shop");
    expect(e.message).toBe(
      `forkstack:forkAccess.namespaces.shop: "shared" lets a copy run as any ServiceAccount of the namespace, which the API server cannot limit to the shared Deployment's own; list the ServiceAccounts copies may run as, e.g. [default, api] (kubectl get deployments -n shop -o jsonpath='{..serviceAccountName}')`,
    );
  });

  it("refuses an unknown key in the object form, naming the closest known one", () => {
    const e = refusal({ namespaces: { payments: { serviceAccounts: ["fork-runner"], secret: ["x"] } } });
    expect(e.field).toBe("forkstack:forkAccess.namespaces.payments.secret");
    expect(e.message).toMatch(/is not a forkstack setting; did you mean forkstack:forkAccess\.namespaces\.payments\.secrets\? The keys here are serviceAccounts, secrets$/);
  });

  it("refuses the object form without serviceAccounts", () => {
    const e = refusal({ namespaces: { payments: { secrets: ["x"] } } });
    expect(e.field).toBe("forkstack:forkAccess.namespaces.payments.serviceAccounts");
    expect(e.message).toMatch(/^forkstack:forkAccess\.namespaces\.payments\.serviceAccounts: \(missing\) is required; list the ServiceAccounts/);
  });

  it("refuses an empty serviceAccounts list: no copy could run", () => {
    const e = refusal({ namespaces: { payments: { serviceAccounts: [] } } });
    expect(e.field).toBe("forkstack:forkAccess.namespaces.payments.serviceAccounts");
    expect(e.message).toContain("is empty, so no copy could run here");
  });

  it("refuses a ServiceAccount that is not a Kubernetes name, naming its index", () => {
    const e = refusal({ namespaces: { payments: { serviceAccounts: ["fork-runner", "Fork_Runner"] } } });
    expect(e.field).toBe("forkstack:forkAccess.namespaces.payments.serviceAccounts[1]");
    expect(e.message).toContain('"Fork_Runner" is not a ServiceAccount name');
  });

  it("refuses a Secret that is not a Kubernetes name, naming its index", () => {
    const e = refusal({ namespaces: { payments: { serviceAccounts: ["fork-runner"], secrets: ["ok", "Not/A/Secret"] } } });
    expect(e.field).toBe("forkstack:forkAccess.namespaces.payments.secrets[1]");
    expect(e.message).toContain("is not a Secret name");
  });

  it("refuses secrets that are not a list", () => {
    expect(refusal({ namespaces: { payments: { serviceAccounts: ["fork-runner"], secrets: "payments-config" } } }).message).toMatch(
      /^forkstack:forkAccess\.namespaces\.payments\.secrets: "payments-config" is not a list; /,
    );
  });

  it("refuses a rule that is neither a list nor an object, pointing to both forms", () => {
    const e = refusal({ namespaces: { shop: 7 } });
    expect(e.field).toBe("forkstack:forkAccess.namespaces.shop");
    expect(e.message).toBe("forkstack:forkAccess.namespaces.shop: 7 is not a ServiceAccount rule; list the ServiceAccounts copies may run as, e.g. [fork-runner], or write { serviceAccounts: [fork-runner], secrets: [payments-config] }");
  });
});

describe("forkAccess.owners", () => {
  it("is undefined when not set: every member owns every fork id, as before", () => {
    expect(access({ namespaces: { shop: ["default"] } }).owners).toBeUndefined();
  });

  it("takes ids, patterns and every kind of owner, defaulting the kinds left out to none", () => {
    const owners = access({
      owners: [
        { ids: ["alice", "alice-*"], users: ["dev-alice"] },
        { ids: ["pr-*"], groups: ["forkstack-ci"], serviceAccounts: ["ci/forkstack-ci"] },
        { ids: ["*"], users: ["oidc:https://issuer.example.com#admin@example.com"] },
      ],
    }).owners;
    expect(owners).toEqual([
      { ids: ["alice", "alice-*"], users: ["dev-alice"], groups: [], serviceAccounts: [] },
      { ids: ["pr-*"], users: [], groups: ["forkstack-ci"], serviceAccounts: ["ci/forkstack-ci"] },
      { ids: ["*"], users: ["oidc:https://issuer.example.com#admin@example.com"], groups: [], serviceAccounts: [] },
    ]);
  });

  it("refuses owners that are not a list", () => {
    const e = refusal({ owners: { alice: "dev-alice" } });
    expect(e.field).toBe("forkstack:forkAccess.owners");
    expect(e.message).toContain("is not a list; list who owns which fork ids");
  });

  it("refuses an entry that is not an object", () => {
    expect(refusal({ owners: ["alice"] }).field).toBe("forkstack:forkAccess.owners[0]");
  });

  it("refuses an unknown key in an entry, naming the closest known one", () => {
    const e = refusal({ owners: [{ ids: ["alice"], user: ["dev-alice"] }] });
    expect(e.field).toBe("forkstack:forkAccess.owners[0].user");
    expect(e.message).toMatch(/did you mean forkstack:forkAccess\.owners\[0\]\.users\? The keys here are ids, users, groups, serviceAccounts$/);
  });

  it("refuses an entry without ids", () => {
    const e = refusal({ owners: [{ users: ["dev-alice"] }] });
    expect(e.field).toBe("forkstack:forkAccess.owners[0].ids");
    expect(e.message).toMatch(/^forkstack:forkAccess\.owners\[0\]\.ids: \(missing\) is required; /);
  });

  it("refuses an empty ids list", () => {
    expect(refusal(owner({ ids: [] })).message).toMatch(/^forkstack:forkAccess\.owners\[0\]\.ids: \[\] is not a non-empty list; /);
  });

  it.each([
    ["Alice", "is not a lowercase DNS label"],
    ["pr--1", 'contains "--"'],
    ["a".repeat(31), "is longer than 30 characters"],
    ["alice*", "is not a lowercase DNS label"],
    ["Alice-*", "has a prefix that is not a lowercase DNS label"],
    ["-*", "has a prefix that is not a lowercase DNS label"],
    [`${"a".repeat(29)}-*`, "matches no fork id (ids are at most 30 characters)"],
  ])("refuses the id %j, naming its index", (id, problem) => {
    const e = refusal(owner({ ids: ["bob", id] }));
    expect(e.field).toBe("forkstack:forkAccess.owners[0].ids[1]");
    expect(e.message).toContain(`${JSON.stringify(id)} ${problem}`);
  });

  it("refuses an entry that names nobody", () => {
    const e = refusal({ owners: [{ ids: ["bob"], users: [], groups: [] }] });
    expect(e.field).toBe("forkstack:forkAccess.owners[0]");
    expect(e.message).toContain("owns ids but names nobody; add the users, groups or serviceAccounts");
  });

  it("refuses a user name with whitespace", () => {
    const e = refusal(owner({ users: ["dev alice"] }));
    expect(e.field).toBe("forkstack:forkAccess.owners[0].users[0]");
    expect(e.message).toContain("is not a Kubernetes user name");
  });

  it("refuses a user name longer than 253 characters", () => {
    expect(refusal(owner({ users: ["u".repeat(254)] })).field).toBe("forkstack:forkAccess.owners[0].users[0]");
  });

  it("refuses a group name forkstack cannot write in RBAC", () => {
    const e = refusal(owner({ users: [], groups: ["ci team"] }));
    expect(e.field).toBe("forkstack:forkAccess.owners[0].groups[0]");
    expect(e.message).toContain('"ci team" is not a group name');
  });

  it.each([["forkstack-ci"], ["ci/forkstack-ci/x"], ["CI/forkstack-ci"], ["ci/"]])("refuses the ServiceAccount %j: not namespace/name", (sa) => {
    const e = refusal(owner({ users: [], serviceAccounts: [sa] }));
    expect(e.field).toBe("forkstack:forkAccess.owners[0].serviceAccounts[0]");
    expect(e.message).toContain("is not a ServiceAccount as namespace/name; write it as namespace/name, e.g. ci/forkstack-ci");
  });
});

describe("forkAccess.maxContainerResources", () => {
  it("is undefined when not set: no ceiling", () => {
    expect(access({}).maxContainerResources).toBeUndefined();
  });

  it.each([["500m"], ["2"], ["1.5"], ["+.5"], ["1e3"]])("takes the cpu quantity %s", (cpu) => {
    expect(access({ maxContainerResources: { cpu } }).maxContainerResources).toEqual({ cpu });
  });

  it.each([["512Mi"], ["4Gi"], ["1G"], ["128974848"]])("takes the memory quantity %s", (memory) => {
    expect(access({ maxContainerResources: { memory } }).maxContainerResources).toEqual({ memory });
  });

  it("takes a YAML number of CPUs as its text", () => {
    expect(access({ maxContainerResources: { cpu: 2, memory: "4Gi" } }).maxContainerResources).toEqual({ cpu: "2", memory: "4Gi" });
  });

  it.each([["2 cores"], ["-1"], ["1.5Gb"], [""], ["m"]])("refuses the cpu %j", (cpu) => {
    const e = refusal({ maxContainerResources: { cpu } });
    expect(e.field).toBe("forkstack:forkAccess.maxContainerResources.cpu");
    expect(e.message).toContain(`${JSON.stringify(cpu)} is not a Kubernetes quantity; use a Kubernetes quantity, e.g. "500m" or "2"`);
  });

  it("refuses a memory given as a YAML number (bytes), asking for a unit", () => {
    const e = refusal({ maxContainerResources: { memory: 4 } });
    expect(e.field).toBe("forkstack:forkAccess.maxContainerResources.memory");
    expect(e.message).toBe('forkstack:forkAccess.maxContainerResources.memory: 4 is not a Kubernetes quantity; write it with a unit, e.g. "512Mi" or "4Gi"');
  });

  it("refuses an unknown key, naming the closest known one", () => {
    const e = refusal({ maxContainerResources: { cpus: "2" } });
    expect(e.field).toBe("forkstack:forkAccess.maxContainerResources.cpus");
    expect(e.message).toMatch(/did you mean forkstack:forkAccess\.maxContainerResources\.cpu\? The keys here are cpu, memory$/);
  });

  it("refuses a value that is not an object", () => {
    expect(refusal({ maxContainerResources: "2" }).message).toMatch(/^forkstack:forkAccess\.maxContainerResources: "2" is not an object; /);
  });
});

describe("forkAccess keys", () => {
  it("knows owners and maxContainerResources", () => {
    expect(NESTED_KEYS.forkAccess).toEqual(["group", "principals", "namespaces", "owners", "maxContainerResources"]);
  });

  it("refuses a misspelled owners key at the top of forkAccess", () => {
    expect(refusal({ owner: [] }).message).toMatch(/^forkstack:forkAccess\.owner: \[\] is not a forkstack setting; did you mean forkstack:forkAccess\.owners\?/);
  });
});
