/**
 * planFork without Pulumi: the fork as a plain value from config, base outputs and a cluster
 * snapshot (test/fixtures/fork/*.yaml, as a live cluster returns it).
 */
import * as path from "path";
import { BaseOutputs, ForkConfig, parseForkConfig } from "../../components/config";
import { ForkPlan, planFork, PlanInput } from "../../components/fork/plan";
import { SimulatedCluster } from "../../render/cluster";
import { SHOP_BASE_OUTPUTS } from "../helpers/baseOutputs";

const cluster = SimulatedCluster.fromFiles([path.join(__dirname, "../fixtures/fork/shop.yaml"), path.join(__dirname, "../fixtures/fork/payments.yaml")]).all();
const base: BaseOutputs = { ...SHOP_BASE_OUTPUTS, maxForkReplicas: 3, forkSecrets: {} };
const input = (fork: unknown, over: Partial<PlanInput> = {}): PlanInput => ({ fork: parseForkConfig(fork) as ForkConfig, base, cluster, owner: "forkstack/alice", ...over });
const planned = (fork: unknown): ForkPlan => {
  const r = planFork(input(fork));
  if (!r.ok) throw r.refusal;
  return r.plan;
};
const ledger = { name: "ledger", namespace: "payments" };
const grpc = { name: "ledger-grpc", namespace: "payments", deployment: "ledger" };

describe("planFork", () => {
  it("keeps the one Deployment copy unchanged when one of two Services over it leaves the fork", () => {
    const both = planned({ id: "alice", services: [ledger, grpc] });
    const one = planned({ id: "alice", services: [ledger] });
    expect(one.deployments).toEqual(both.deployments);
  });

  it("gives both Service copies a selector that picks the one Deployment copy's pods", () => {
    const p = planned({ id: "alice", services: [ledger, grpc] });
    const pods = (p.deployments[0].object.spec as any).template.metadata.labels;
    const picks = p.services.map((s) => Object.entries((s.object.spec as any).selector).every(([k, v]) => pods[k] === v));
    expect(picks).toEqual([true, true]);
  });

  it("routes each forked Service to its own copy", () => {
    const p = planned({ id: "alice", services: [ledger, grpc] });
    expect(p.routes.map((r) => [r.claim.service.name, r.claim.targetHost, r.virtualService])).toEqual([
      ["ledger", "ledger-alice.payments.svc.cluster.local", "payments/ledger"],
      ["ledger-grpc", "ledger-grpc-alice.payments.svc.cluster.local", undefined],
    ]);
  });

  it("records the owning stack on the copies and Mappings", () => {
    const p = planned({ id: "alice", services: [ledger] });
    const owners = [...p.deployments, ...p.services, ...p.mappings].map((o) => o.object.metadata.annotations?.["forkstack.dev/stack"]);
    expect(new Set(owners)).toEqual(new Set(["forkstack/alice"]));
  });

  it("returns a refusal rather than throwing", () => {
    const r = planFork(input({ id: "alice", services: [{ name: "nope", namespace: "payments" }] }));
    expect(r.ok ? "planned" : r.refusal.field).toBe("forkstack:fork.services[0].name");
  });

  it("refuses replicas over the base stack's limit", () => {
    const r = planFork(input({ id: "alice", services: [{ ...ledger, replicas: 4 }] }));
    expect(r.ok ? "planned" : r.refusal.message).toBe(
      "forkstack:fork.services[0].replicas: 4 is more than the base stack allows (forkstack:maxForkReplicas = 3); use at most 3, or ask the base stack's owners to raise forkstack:maxForkReplicas",
    );
  });

  it("refuses two different images for Services over one Deployment", () => {
    const r = planFork(input({ id: "alice", services: [{ ...ledger, image: "r.example.com/l:1" }, { ...grpc, image: "r.example.com/l:2" }] }));
    expect(r.ok ? "planned" : r.refusal.field).toBe("forkstack:fork.services[1].image");
  });

  it("targets the fork's copy of the entry service from the fork Mapping", () => {
    const p = planned({ id: "alice", services: [{ name: "frontend", namespace: "shop" }] });
    expect((p.mappings[0].object.spec as any).service).toBe("frontend-alice.shop:80");
  });
});

describe("planFork logical names", () => {
  it("aliases a Deployment copy to the name it had when copies were keyed by Service", () => {
    const p = planned({ id: "alice", services: [grpc] });
    expect([p.deployments[0].key, p.deployments[0].aliases]).toEqual(["alice-payments-ledger-deployment", ["alice-payments-ledger-grpc-deployment"]]);
  });

  it("needs no alias when the Deployment is named like the Service", () => {
    expect(planned({ id: "alice", services: [ledger] }).deployments[0].aliases).toBeUndefined();
  });
});

describe("planFork finds the Deployment behind a Service", () => {
  it("uses the one Deployment whose pods the Service selects when deployment: is not given and none has its name", () => {
    const p = planned({ id: "alice", services: [{ name: "ledger-grpc", namespace: "payments" }] });
    expect(p.copies[0].deployment).toBe("ledger-alice.payments");
  });

  it("shares that Deployment's copy with the Service named like it", () => {
    expect(planned({ id: "alice", services: [ledger, { name: "ledger-grpc", namespace: "payments" }] }).deployments).toHaveLength(1);
  });

  it("keeps an explicit deployment: that does not exist a refusal", () => {
    const r = planFork(input({ id: "alice", services: [{ name: "ledger-grpc", namespace: "payments", deployment: "ledger-v2" }] }));
    expect(r.ok ? "planned" : r.refusal.message).toMatch(/^forkstack:fork\.services\[0\]\.deployment: "ledger-v2\.payments" is not a Deployment in the shared cluster/);
  });
});

describe("forkable namespaces", () => {
  const withRule = (rule: "shared" | string[]) => ({ base: { ...base, forkNamespaces: { shop: ["default"], payments: rule } } });
  const sa = (p: ForkPlan) => (p.deployments[0].object.spec as any).template.spec.serviceAccountName;

  it("refuses a service in a namespace the base stack does not mark forkable, naming the ones it does", () => {
    const r = planFork(input({ id: "alice", services: [ledger] }, { base: { ...base, forkNamespaces: { shop: ["default"] } } }));
    expect(r.ok ? "planned" : r.refusal.message).toBe(
      'forkstack:fork.services[0].namespace: "payments" is not a forkable namespace of the base stack; fork a service in shop, or ask the platform team to add payments to forkstack:forkAccess.namespaces',
    );
  });

  // The shared ledger runs as its own ServiceAccount.
  const withSa = cluster.map((o) =>
    o.kind === "Deployment" && o.metadata.name === "ledger" ? { ...o, spec: { ...(o.spec as any), template: { ...(o.spec as any).template, spec: { ...(o.spec as any).template.spec, serviceAccountName: "ledger-sa" } } } } : o,
  );

  it.each([
    // "shared": what a base stack of the previous release may still publish.
    ["shared", "ledger-sa"],
    [["ledger-sa", "fork-runner"], "ledger-sa"],
    [["fork-runner", "fork-reader"], "fork-runner"],
  ] as const)("with the rule %j the copy runs as %s", (rule, expected) => {
    const r = planFork(input({ id: "alice", services: [ledger] }, { ...withRule(rule === "shared" ? rule : [...rule]), cluster: withSa }));
    expect(r.ok ? sa(r.plan) : r.refusal.message).toBe(expected);
  });

});

describe("what the API server would refuse in a copy's pods", () => {
  /** The cluster with the shared ledger Deployment's pod spec changed. */
  const withLedgerPod = (change: (pod: any) => void) =>
    cluster.map((o) => {
      if (o.kind !== "Deployment" || o.metadata.name !== "ledger") return o;
      const d = JSON.parse(JSON.stringify(o));
      change(d.spec.template.spec);
      return d;
    });
  const refusal = (fork: unknown, over: Partial<PlanInput>) => {
    const r = planFork(input(fork, over));
    return r.ok ? "planned" : r.refusal.message;
  };
  const privileged = withLedgerPod((pod) => (pod.containers[0].securityContext = { privileged: true }));
  const dbRoot = withLedgerPod((pod) => (pod.containers[0].env = [{ name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "db-root", key: "password" } } }]));
  const fourCpus = withLedgerPod((pod) => (pod.containers[0].resources = { requests: { cpu: "4", memory: "1Gi" } }));
  const listing = (secrets: string[]) => ({ ...base, forkSecrets: { payments: secrets } });

  it("refuses a fork of a privileged shared Deployment in one line", () => {
    expect(refusal({ id: "alice", services: [ledger] }, { cluster: privileged })).toBe(
      'forkstack:fork.services[0].deployment: "ledger.payments" runs container "ledger" privileged; fork another Deployment, or ask its owners to run it within Kubernetes\' Pod Security baseline profile (https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline)',
    );
  });

  it("names the first forked Service over the Deployment", () => {
    const r = planFork(input({ id: "alice", services: [{ name: "checkout", namespace: "payments" }, grpc, ledger] }, { cluster: privileged }));
    expect(r.ok ? "planned" : r.refusal.field).toBe("forkstack:fork.services[1].deployment");
  });

  it("refuses a fork of a Deployment using a Secret its namespace does not list", () => {
    expect(refusal({ id: "alice", services: [ledger] }, { cluster: dbRoot, base: listing(["payments-config"]) })).toBe(
      'forkstack:fork.services[0].deployment: "ledger.payments" uses Secret "db-root" (env DB_PASSWORD of container "ledger"), which copies in payments may not use; ' +
        "give the fork its own env.DB_PASSWORD, fork another Deployment, or ask the platform team to list the Secret under forkstack:forkAccess.namespaces.payments.secrets",
    );
  });

  it("plans the same fork when the base lists the Secret", () => {
    expect(refusal({ id: "alice", services: [ledger] }, { cluster: dbRoot, base: listing(["payments-config", "db-root"]) })).toBe("planned");
  });

  it("plans the fork when its own env replaces the Secret variable (the copy is judged, not the shared Deployment)", () => {
    expect(refusal({ id: "alice", services: [{ ...ledger, env: { DB_PASSWORD: "dev" } }] }, { cluster: dbRoot, base: listing(["payments-config"]) })).toBe("planned");
  });

  it("refuses a fork of a Deployment over the base's container ceiling", () => {
    expect(refusal({ id: "alice", services: [ledger] }, { cluster: fourCpus, base: { ...base, maxContainerResources: { cpu: "2", memory: "4Gi" } } })).toBe(
      'forkstack:fork.services[0].deployment: "ledger.payments" requests cpu 4 in container "ledger", more than the 2 a copy may (forkstack:forkAccess.maxContainerResources of the base); ' +
        "fork another Deployment, or ask the platform team to raise forkstack:forkAccess.maxContainerResources.cpu",
    );
  });

  it("plans the same fork under a higher ceiling", () => {
    expect(refusal({ id: "alice", services: [ledger] }, { cluster: fourCpus, base: { ...base, maxContainerResources: { cpu: "4", memory: "4Gi" } } })).toBe("planned");
  });
});
