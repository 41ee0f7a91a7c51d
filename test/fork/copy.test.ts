import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { checkServiceFrontsDeployment, copyDeployment, CopyOptions, copyService, forkPodLabels } from "../../components/fork/copy";
import { ConfigError } from "../../components/errors";
import { FORK_LABEL_SUFFIX, LABELS, MANAGED_BY } from "../../components/naming";
import type { KubeObject } from "../../render/cluster";
import { validateAgainstSchema } from "../helpers/schemas";

function load(file: string): { service: KubeObject; deployment: KubeObject } {
  const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(__dirname, "..", "fixtures", "live", file), "utf8")).map((d) => d.toJS() as KubeObject);
  return { service: docs.find((d) => d.kind === "Service")!, deployment: docs.find((d) => d.kind === "Deployment")! };
}

/** Equality-based selection, as a Service or a ReplicaSet's matchLabels select pods. */
function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }[];
}

/**
 * A Deployment's spec.selector as the API server evaluates it: matchLabels and every
 * matchExpression ANDed (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#resources-that-support-set-based-requirements).
 */
function selectorSelects(selector: LabelSelector, labels: Record<string, string>): boolean {
  const has = (k: string) => Object.prototype.hasOwnProperty.call(labels, k);
  const expression = ({ key, operator, values = [] }: NonNullable<LabelSelector["matchExpressions"]>[number]): boolean => {
    switch (operator) {
      case "In":
        return has(key) && values.includes(labels[key]);
      case "NotIn":
        return !has(key) || !values.includes(labels[key]);
      case "Exists":
        return has(key);
      case "DoesNotExist":
        return !has(key);
    }
  };
  return selects(selector.matchLabels ?? {}, labels) && (selector.matchExpressions ?? []).every(expression);
}

const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const opts = (over: Partial<CopyOptions> = {}): CopyOptions => ({ forkId: "alice", env: {}, replicas: 1, ...over });

const spec = (o: KubeObject) => o.spec as any;
const podLabelsOf = (dep: KubeObject): Record<string, string> => spec(dep).template.metadata.labels;
const firstContainer = (dep: KubeObject) => spec(dep).template.spec.containers[0];

describe("forkPodLabels", () => {
  const { service, deployment } = load("shop-api.yaml");

  it("rewrites every label of the shared pods (selected today or not) and adds the fork label", () => {
    expect(forkPodLabels(service, deployment, "alice")).toEqual({ app: "api-forkstack-alice", tier: "backend-forkstack-alice", version: "v1-forkstack-alice", [LABELS.fork]: "alice" });
  });

  it("are not selected by the shared Service", () => {
    const labels = { ...podLabelsOf(deployment), ...forkPodLabels(service, deployment, "alice") };
    expect(selects(spec(service).selector, labels)).toBe(false);
  });

  it("are not selected by the shared Deployment's selector", () => {
    const labels = { ...podLabelsOf(deployment), ...forkPodLabels(service, deployment, "alice") };
    expect(selects(spec(deployment).selector.matchLabels, labels)).toBe(false);
  });
});

describe("copyDeployment", () => {
  const { service, deployment } = load("shop-api.yaml");
  const copy = copyDeployment(deployment, service, opts({ image: "registry.example.com/api:alice-1", env: { FEATURE_X: "on", NEW_FLAG: "1" }, expiresAt: "2026-06-01T00:00:00Z" }));

  it("is named <name>-<fork> in the shared namespace", () => {
    expect(copy.metadata.name).toBe("api-alice");
    expect(copy.metadata.namespace).toBe("shop");
  });

  it("drops every server-set field", () => {
    for (const f of ["uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "ownerReferences"]) {
      expect(copy.metadata).not.toHaveProperty(f);
    }
    expect(copy).not.toHaveProperty("status");
    expect(spec(copy).template.metadata).not.toHaveProperty("creationTimestamp");
  });

  it("drops the revision and last-applied annotations and keeps the others", () => {
    expect(copy.metadata.annotations).toEqual({ "team.example.com/owner": "checkout", [LABELS.expiresAt]: "2026-06-01T00:00:00Z" });
  });

  it("carries the fork, managed-by and copied-from labels", () => {
    expect(copy.metadata.labels).toMatchObject({ [LABELS.fork]: "alice", [LABELS.managedBy]: MANAGED_BY, [LABELS.copiedFrom]: "shop.api" });
  });

  it("runs the requested replicas, not the shared count", () => {
    expect(spec(copy).replicas).toBe(1);
  });

  it("selects its own pods with rewritten matchLabels", () => {
    expect(spec(copy).selector.matchLabels).toEqual({ app: "api-forkstack-alice", [LABELS.fork]: "alice" });
    expect(selects(spec(copy).selector.matchLabels, podLabelsOf(copy))).toBe(true);
  });

  it("gives every pod label a value ending in -forkstack-<fork>, as the fork policy demands on the server", () => {
    expect(podLabelsOf(copy)).toEqual({ app: "api-forkstack-alice", tier: "backend-forkstack-alice", version: "v1-forkstack-alice", [LABELS.fork]: "alice" });
  });

  it("keeps the labels that enrol its pods in the mesh as they are", () => {
    const labelled = structuredClone(deployment) as any;
    labelled.spec.template.metadata.labels["sidecar.istio.io/inject"] = "true";
    expect(podLabelsOf(copyDeployment(labelled, service, opts()))["sidecar.istio.io/inject"]).toBe("true");
  });

  it("does not carry the shared pods' anti-affinity (its terms select shared pods, which the scheduler would keep away from the copy's)", () => {
    const spread = structuredClone(deployment) as any;
    const zone = { weight: 1, preference: { matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] } };
    spread.spec.template.spec.affinity = {
      nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [zone] },
      podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: { app: "api" } } }] },
    };
    expect(spec(copyDeployment(spread, service, opts())).template.spec.affinity).toEqual({ nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [zone] } });
    spread.spec.template.spec.affinity = { podAntiAffinity: spread.spec.template.spec.affinity.podAntiAffinity };
    expect(spec(copyDeployment(spread, service, opts())).template.spec).not.toHaveProperty("affinity");
  });

  it("does not carry the shared pods' priority, with which it could preempt them", () => {
    const urgent = structuredClone(deployment) as any;
    urgent.spec.template.spec.priorityClassName = "business-critical";
    urgent.spec.template.spec.priority = 1000000;
    const podSpec = spec(copyDeployment(urgent, service, opts())).template.spec;
    expect(podSpec).not.toHaveProperty("priorityClassName");
    expect(podSpec).not.toHaveProperty("priority");
  });

  it("keeps Istio's sidecar injection annotations on the pods", () => {
    expect(spec(copy).template.metadata.annotations).toMatchObject({
      "sidecar.istio.io/inject": "true",
      "proxy.istio.io/config": '{"holdApplicationUntilProxyStarts": true}',
    });
  });

  it("replaces the first container's image only", () => {
    expect(firstContainer(copy).image).toBe("registry.example.com/api:alice-1");
    expect(spec(copy).template.spec.containers[1].image).toBe("registry.example.com/log-shipper:2.1.0");
    expect(spec(copy).template.spec.initContainers[0].image).toBe("registry.example.com/api:1.42.0");
  });

  it("merges env into the first container: replaces in place, appends new, keeps valueFrom entries", () => {
    expect(firstContainer(copy).env).toEqual([
      { name: "LOG_LEVEL", value: "info" },
      { name: "FEATURE_X", value: "on" },
      { name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "api-db", key: "password" } } },
      { name: "POD_IP", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "status.podIP" } } },
      { name: "NEW_FLAG", value: "1" },
    ]);
  });

  it("leaves the sidecar container untouched", () => {
    expect(spec(copy).template.spec.containers[1]).toEqual(spec(deployment).template.spec.containers[1]);
  });

  it("keeps volumes, probes, ports and the service account", () => {
    expect(spec(copy).template.spec.volumes).toEqual(spec(deployment).template.spec.volumes);
    expect(firstContainer(copy).readinessProbe).toEqual(firstContainer(deployment).readinessProbe);
    expect(firstContainer(copy).ports).toEqual(firstContainer(deployment).ports);
    expect(spec(copy).template.spec.serviceAccountName).toBe("api");
  });

  describe("as the API server returns it, with the deprecated serviceAccount alias", () => {
    const aliased = JSON.parse(JSON.stringify(deployment));
    aliased.spec.template.spec.serviceAccount = "api";

    it("runs as another ServiceAccount with no alias left naming the shared one", () => {
      const podSpec = spec(copyDeployment(aliased, service, opts({ serviceAccount: "fork-runner" }))).template.spec;
      expect([podSpec.serviceAccountName, podSpec.serviceAccount]).toEqual(["fork-runner", undefined]);
    });

    it("keeps the alias where the copy runs as the shared ServiceAccount", () => {
      expect(spec(copyDeployment(aliased, service, opts())).template.spec.serviceAccount).toBe("api");
    });
  });

  it("keeps the first container as it was when no image or env is given", () => {
    const plain = copyDeployment(deployment, service, opts());
    expect(firstContainer(plain)).toEqual(firstContainer(deployment));
  });

  it("replaces an env entry that came from valueFrom when the fork sets it", () => {
    const c = copyDeployment(deployment, service, opts({ env: { DB_PASSWORD: "dev" } }));
    expect(firstContainer(c).env[2]).toEqual({ name: "DB_PASSWORD", value: "dev" });
  });

  it("does not mutate the shared Deployment", () => {
    const fresh = load("shop-api.yaml").deployment;
    expect(deployment).toEqual(fresh);
  });

  it("validates against the Deployment schema", () => {
    expect(() => validateAgainstSchema(copy)).not.toThrow();
  });
});

describe("copyDeployment of a Deployment whose selector uses matchExpressions", () => {
  const { service, deployment } = load("shop-worker-matchexpressions.yaml");
  const copy = copyDeployment(deployment, service, opts());

  it("rewrites the keys the shared Deployment selects with In expressions, besides matchLabels and the Service's selector", () => {
    expect(forkPodLabels(service, deployment, "alice")).toEqual({
      app: "worker-forkstack-alice",
      "app.kubernetes.io/part-of": "shop-forkstack-alice",
      tier: "jobs-forkstack-alice",
      track: "stable-forkstack-alice",
      [LABELS.fork]: "alice",
    });
  });

  it("selects with exactly matchLabels of the rewritten labels and the fork label", () => {
    expect(spec(copy).selector).toEqual({
      matchLabels: { app: "worker-forkstack-alice", "app.kubernetes.io/part-of": "shop-forkstack-alice", tier: "jobs-forkstack-alice", [LABELS.fork]: "alice" },
    });
  });

  it("has a selector that selects its own template labels (the API server rejects a Deployment whose selector does not)", () => {
    expect(podLabelsOf(copy)).toEqual({ app: "worker-forkstack-alice", "app.kubernetes.io/part-of": "shop-forkstack-alice", tier: "jobs-forkstack-alice", track: "stable-forkstack-alice", [LABELS.fork]: "alice" });
    expect(selectorSelects(spec(copy).selector, podLabelsOf(copy))).toBe(true);
  });

  it("has pods the shared Service does not select", () => {
    expect(selects(spec(service).selector, podLabelsOf(copy))).toBe(false);
  });

  it("has pods the shared Deployment's selector does not select", () => {
    expect(selectorSelects(spec(deployment).selector, podLabelsOf(copy))).toBe(false);
  });

  it("does not select the shared pods", () => {
    expect(selectorSelects(spec(copy).selector, podLabelsOf(deployment))).toBe(false);
  });

  it("validates against the Deployment schema", () => {
    expect(() => validateAgainstSchema(copy)).not.toThrow();
  });
});

describe("copyService", () => {
  const { service, deployment } = load("shop-api.yaml");
  const copy = copyService(service, deployment, opts());
  const dep = copyDeployment(deployment, service, opts());

  it("is named <name>-<fork> in the shared namespace", () => {
    expect(copy.metadata.name).toBe("api-alice");
    expect(copy.metadata.namespace).toBe("shop");
  });

  it("drops the allocated cluster IPs and the status", () => {
    expect(spec(copy)).not.toHaveProperty("clusterIP");
    expect(spec(copy)).not.toHaveProperty("clusterIPs");
    expect(copy).not.toHaveProperty("status");
  });

  it("drops server-set metadata and the last-applied annotation", () => {
    for (const f of ["uid", "resourceVersion", "creationTimestamp", "managedFields"]) expect(copy.metadata).not.toHaveProperty(f);
    expect(copy.metadata.annotations).toBeUndefined();
  });

  it("selects the copy's pods", () => {
    expect(spec(copy).selector).toEqual({ app: "api-forkstack-alice", tier: "backend-forkstack-alice", [LABELS.fork]: "alice" });
    expect(selects(spec(copy).selector, podLabelsOf(dep))).toBe(true);
  });

  it("the shared Service does not select the copy's pods", () => {
    expect(selects(spec(service).selector, podLabelsOf(dep))).toBe(false);
  });

  it("does not select the shared pods", () => {
    expect(selects(spec(copy).selector, podLabelsOf(deployment))).toBe(false);
  });

  it("keeps the port names Istio uses for protocol selection", () => {
    expect(spec(copy).ports).toEqual([
      { name: "http", port: 80, protocol: "TCP", targetPort: 8080 },
      { name: "grpc", appProtocol: "grpc", port: 9090, protocol: "TCP", targetPort: 9090 },
    ]);
  });

  it("stays headless when the shared Service is headless", () => {
    const headless = structuredClone(service) as any;
    headless.spec.clusterIP = "None";
    headless.spec.clusterIPs = ["None"];
    const c = copyService(headless, deployment, opts());
    expect(spec(c).clusterIP).toBe("None");
    expect(spec(c)).not.toHaveProperty("clusterIPs");
  });

  it("validates against the Service schema and has a DNS-1035 name", () => {
    expect(() => validateAgainstSchema(copy)).not.toThrow();
    expect(copy.metadata.name).toMatch(DNS1035);
  });
});

describe("copyService of a LoadBalancer Service", () => {
  const { service, deployment } = load("shop-frontend-loadbalancer.yaml");
  const copy = copyService(service, deployment, opts());

  it("becomes a ClusterIP Service", () => {
    expect(spec(copy).type).toBe("ClusterIP");
  });

  it("drops node ports, the health-check port and load-balancer settings", () => {
    expect(spec(copy).ports).toEqual([{ name: "http", port: 80, protocol: "TCP", targetPort: 3000 }]);
    for (const f of ["healthCheckNodePort", "loadBalancerIP", "allocateLoadBalancerNodePorts", "externalTrafficPolicy"]) {
      expect(spec(copy)).not.toHaveProperty(f);
    }
  });

  it("drops the cloud load-balancer annotation", () => {
    expect(copy.metadata.annotations).toBeUndefined();
  });

  it("validates against the Service schema", () => {
    expect(() => validateAgainstSchema(copy)).not.toThrow();
  });
});

describe("copies with long names", () => {
  const longName = "inventory-reservation-reconciliation-worker-svc-v2"; // 50
  const forkId = "pr-4812-checkout-redesign"; // 25
  const { service, deployment } = load("shop-api.yaml");
  const svc = { ...service, metadata: { ...service.metadata, name: longName } };
  const dep = { ...deployment, metadata: { ...deployment.metadata, name: longName } };
  const longLabels = (o: KubeObject): KubeObject => {
    const s = structuredClone(o) as any;
    if (s.kind === "Service") s.spec.selector = { app: longName };
    else {
      s.spec.selector.matchLabels = { app: longName };
      s.spec.template.metadata.labels = { ...s.spec.template.metadata.labels, app: longName };
    }
    return s;
  };
  const sharedSvc = longLabels(svc);
  const sharedDep = longLabels(dep);
  const serviceCopy = copyService(sharedSvc, sharedDep, opts({ forkId }));
  const deploymentCopy = copyDeployment(sharedDep, sharedSvc, opts({ forkId }));

  it("uses a 50-character service and a 25-character fork id", () => {
    expect(longName).toHaveLength(50);
    expect(forkId).toHaveLength(25);
  });

  it("shortens the Service name to a valid DNS-1035 label of at most 63 characters", () => {
    expect(serviceCopy.metadata.name.length).toBeLessThanOrEqual(63);
    expect(serviceCopy.metadata.name).toMatch(DNS1035);
  });

  it("gives the Deployment the same name as the Service", () => {
    expect(deploymentCopy.metadata.name).toBe(serviceCopy.metadata.name);
  });

  it("ends the shortened names in -<fork> and label values in -forkstack-<fork>, the suffixes the fork policy checks on the server", () => {
    expect(serviceCopy.metadata.name.endsWith(`-${forkId}`)).toBe(true);
    for (const [key, value] of Object.entries(podLabelsOf(deploymentCopy))) {
      if (key !== LABELS.fork) expect(`${key}=${value}`).toMatch(new RegExp(`${FORK_LABEL_SUFFIX}${forkId}$`));
    }
  });

  it("keeps the rewritten label values within 63 characters and still not selected by the shared Service", () => {
    expect(spec(serviceCopy).selector.app.length).toBeLessThanOrEqual(63);
    expect(selects(spec(sharedSvc).selector, podLabelsOf(deploymentCopy))).toBe(false);
    expect(selects(spec(serviceCopy).selector, podLabelsOf(deploymentCopy))).toBe(true);
  });

  it("validates both copies against their schemas", () => {
    expect(() => validateAgainstSchema(serviceCopy)).not.toThrow();
    expect(() => validateAgainstSchema(deploymentCopy)).not.toThrow();
  });
});

describe("checkServiceFrontsDeployment", () => {
  const { service, deployment } = load("shop-api.yaml");
  const field = "forkstack:fork.services[0]";

  it("accepts a Service whose selector the Deployment's pods carry", () => {
    expect(() => checkServiceFrontsDeployment(service, deployment, field)).not.toThrow();
  });

  it("rejects a Deployment whose pods lack the Service's selector labels, naming the field", () => {
    const other = load("shop-frontend-loadbalancer.yaml").deployment;
    expect(() => checkServiceFrontsDeployment(service, other, field)).toThrow(ConfigError);
    expect(() => checkServiceFrontsDeployment(service, other, field)).toThrow(
      /^forkstack:fork\.services\[0\]\.deployment: "shop\/frontend" has pods without the Service shop\/api's selector labels app=api,tier=backend; set deployment to/,
    );
  });

  it("rejects a Deployment without containers", () => {
    const empty = structuredClone(deployment) as any;
    empty.spec.template.spec.containers = [];
    expect(() => checkServiceFrontsDeployment(service, empty, field)).toThrow(/\.deployment: "shop\/api" has no containers/);
  });

  it("rejects a Service without a selector", () => {
    const external = { ...service, spec: { type: "ExternalName", externalName: "api.example.com" } };
    expect(() => checkServiceFrontsDeployment(external, deployment, field)).toThrow(/^forkstack:fork\.services\[0\]\.name: "shop\/api" is a Service without a selector/);
  });
});
