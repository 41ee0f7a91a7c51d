/**
 * A simulated Kubernetes cluster: a plain store of objects keyed by apiVersion group, kind,
 * namespace and name. The offline render and the tests seed it with what a live cluster returns
 * (YAML fixtures, server-set fields included) and the mock runtime writes into it what a stack
 * creates.
 */
import * as fs from "fs";
import * as YAML from "yaml";

import type { KubeObject } from "../components/kube/objects";

export type { KubeObject };

/**
 * Kinds without a namespace (`kubectl api-resources --namespaced=false`; ClusterIssuer is
 * cert-manager's). Any other kind without one lands in `default`, as the API server does for a
 * namespaced object. Keep the kinds forkstack creates here: the fork policy's admission policies
 * and bindings were rendered under namespace default, which a real server would not show.
 */
const CLUSTER_SCOPED = new Set([
  "Namespace",
  "ClusterRole",
  "ClusterRoleBinding",
  "CustomResourceDefinition",
  "ClusterIssuer",
  "StorageClass",
  "ValidatingAdmissionPolicy",
  "ValidatingAdmissionPolicyBinding",
  "MutatingAdmissionPolicy",
  "MutatingAdmissionPolicyBinding",
  "ValidatingWebhookConfiguration",
  "MutatingWebhookConfiguration",
  "PriorityClass",
  "IngressClass",
  "PersistentVolume",
  "APIService",
]);

function group(apiVersion: string): string {
  return apiVersion.includes("/") ? apiVersion.split("/")[0] : "";
}

export function objectKey(apiVersion: string, kind: string, namespace: string | undefined, name: string): string {
  return `${group(apiVersion)}/${kind}/${CLUSTER_SCOPED.has(kind) ? "" : namespace ?? "default"}/${name}`;
}

/**
 * A deep copy made of plain arrays and objects. Not structuredClone: under Jest its arrays come from
 * another realm and fail `Array.isArray`, which turns them into `{"0": ...}` in mocked outputs.
 */
function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export class SimulatedCluster {
  private readonly objects = new Map<string, KubeObject>();
  private version = 1000;

  /** Reads every YAML document of the given files (fixtures of what a live cluster returns). */
  static fromFiles(files: readonly string[]): SimulatedCluster {
    const cluster = new SimulatedCluster();
    for (const file of files) cluster.seedYaml(fs.readFileSync(file, "utf8"), file);
    return cluster;
  }

  seedYaml(text: string, source = "input"): void {
    for (const doc of YAML.parseAllDocuments(text)) {
      if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors[0].message.split("\n")[0]}`);
      const obj = doc.toJS();
      if (obj === null || obj === undefined) continue;
      const items: unknown[] = obj.kind === "List" && Array.isArray(obj.items) ? obj.items : [obj];
      for (const item of items) {
        const o = item as KubeObject;
        if (!o || typeof o.apiVersion !== "string" || typeof o.kind !== "string" || typeof o.metadata?.name !== "string") {
          throw new Error(`${source}: every document needs apiVersion, kind and metadata.name`);
        }
        this.put(o, { keepVersion: true });
      }
    }
  }

  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.objects.get(objectKey(apiVersion, kind, namespace, name));
    return o === undefined ? undefined : clone(o);
  }

  /** Objects of a kind (any version of its API group), optionally in one namespace. */
  list(apiVersion: string, kind: string, namespace?: string): KubeObject[] {
    const prefix = `${group(apiVersion)}/${kind}/`;
    return [...this.objects.entries()]
      .filter(([k, o]) => k.startsWith(prefix) && (namespace === undefined || (o.metadata.namespace ?? "default") === namespace))
      .map(([, o]) => clone(o));
  }

  /** Creates or replaces an object, stamping a new resourceVersion as the API server does. */
  put(obj: KubeObject, opts: { keepVersion?: boolean } = {}): KubeObject {
    const copy = clone(obj);
    if (!CLUSTER_SCOPED.has(copy.kind)) copy.metadata.namespace = copy.metadata.namespace ?? "default";
    if (!opts.keepVersion || copy.metadata.resourceVersion === undefined) copy.metadata.resourceVersion = String(++this.version);
    this.objects.set(objectKey(copy.apiVersion, copy.kind, copy.metadata.namespace, copy.metadata.name), copy);
    return clone(copy);
  }

  delete(apiVersion: string, kind: string, namespace: string | undefined, name: string): boolean {
    return this.objects.delete(objectKey(apiVersion, kind, namespace, name));
  }

  all(): KubeObject[] {
    return [...this.objects.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, o]) => clone(o));
  }

  /**
   * Multi-document YAML that reads back the same under YAML 1.1 as under 1.2. kubectl and every
   * Go client read YAML through go-yaml, which resolves plain `on`, `yes`, `y`, `off`, `no` as
   * booleans (YAML 1.1, https://yaml.org/type/bool.html), while this package writes YAML 1.2,
   * where they are strings and left unquoted: `value: on` (a fork's env `FEATURE_X: "on"`) would
   * reach the API server as `true` and be refused as an EnvVar value. Writing with the 1.1 schema
   * quotes them; a 1.2 reader gets the same strings.
   */
  toYaml(): string {
    return this.all()
      .map((o) => YAML.stringify(o, { lineWidth: 0, version: "1.1" }))
      .join("---\n");
  }
}
