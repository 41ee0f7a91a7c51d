/**
 * Validates Emissary (getambassador.io/v3alpha1) objects against the CRD schemas Emissary publishes.
 * Emissary has no npm schema package, so the v3alpha1 `openAPIV3Schema`s of Mapping, Host,
 * Listener and Module are vendored in test/fixtures/crds/emissary-v3alpha1.yaml (source and licence noted there).
 *
 * Structural CRD schemas prune unknown fields unless a node says `x-kubernetes-preserve-unknown-fields`,
 * and `kubectl` rejects them with field validation `Strict` (its default since Kubernetes 1.27:
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation). Here every object
 * node with `properties`, no `additionalProperties` and no preserve marker becomes
 * `additionalProperties: false`, so a misspelt or unsupported field fails the test instead of
 * silently disappearing in the cluster.
 */
import * as fs from "fs";
import * as path from "path";
import Ajv, { ValidateFunction } from "ajv";
import * as YAML from "yaml";

export const EMISSARY_API_VERSION = "getambassador.io/v3alpha1";
export const EMISSARY_KINDS = ["Mapping", "Host", "Listener", "Module"] as const;
export type EmissaryKind = (typeof EMISSARY_KINDS)[number];

/** https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#dns-subdomain-names */
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const SCHEMA_FILE = path.join(__dirname, "..", "fixtures", "crds", "emissary-v3alpha1.yaml");

type Schema = { [k: string]: unknown };

/** Closes object nodes the way the API server's pruning/strict field validation does. */
function closeStructural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closeStructural);
  if (node === null || typeof node !== "object") return node;
  const out: Schema = {};
  for (const [k, v] of Object.entries(node as Schema)) {
    // `properties` and `additionalProperties` hold schemas keyed by field name; recurse into each.
    if (k === "properties" && v !== null && typeof v === "object") {
      out[k] = Object.fromEntries(Object.entries(v as Schema).map(([name, s]) => [name, closeStructural(s)]));
    } else {
      out[k] = closeStructural(v);
    }
  }
  if (out.properties !== undefined && out.additionalProperties === undefined && out["x-kubernetes-preserve-unknown-fields"] !== true) {
    out.additionalProperties = false;
  }
  return out;
}

let validators: Record<EmissaryKind, ValidateFunction> | undefined;

function compile(): Record<EmissaryKind, ValidateFunction> {
  if (validators !== undefined) return validators;
  const schemas = YAML.parse(fs.readFileSync(SCHEMA_FILE, "utf8")) as Record<string, Schema>;
  // strict: false — CRD schemas carry Kubernetes extensions (x-kubernetes-*) ajv does not know.
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addFormat("int32", { type: "number", validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat("date-time", /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
  const compiled = {} as Record<EmissaryKind, ValidateFunction>;
  for (const kind of EMISSARY_KINDS) {
    if (schemas[kind] === undefined) throw new Error(`${SCHEMA_FILE} has no schema for ${kind}`);
    compiled[kind] = ajv.compile(closeStructural(schemas[kind]) as Schema);
  }
  validators = compiled;
  return compiled;
}

/** Throws (naming kind, namespace/name and every schema error) when the object is not a valid Emissary v3alpha1 object. */
export function validateEmissary(obj: any): void {
  const id = `${obj?.kind} ${obj?.metadata?.namespace ?? ""}/${obj?.metadata?.name}`;
  if (obj?.apiVersion !== EMISSARY_API_VERSION) {
    throw new Error(`${id}: apiVersion ${JSON.stringify(obj?.apiVersion)} is not ${EMISSARY_API_VERSION}`);
  }
  if (!(EMISSARY_KINDS as readonly string[]).includes(obj.kind)) {
    throw new Error(`${id}: kind must be one of ${EMISSARY_KINDS.join(", ")}`);
  }
  const name = obj.metadata?.name;
  if (typeof name !== "string" || name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    throw new Error(`${id}: metadata.name ${JSON.stringify(name)} is not a DNS-1123 subdomain`);
  }
  const validate = compile()[obj.kind as EmissaryKind];
  if (!validate(obj)) {
    const errors = (validate.errors ?? []).map((e) => {
      const extra = e.keyword === "additionalProperties" ? ` (${(e.params as { additionalProperty: string }).additionalProperty})` : "";
      return `${e.instancePath || "/"} ${e.message}${extra}`;
    });
    throw new Error(`${id}: ${errors.join("; ")}`);
  }
}
