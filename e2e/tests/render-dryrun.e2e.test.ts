/**
 * Every object of the offline render, sent to the real API server with server-side apply in
 * dry-run mode and Strict field validation: the server runs its real OpenAPI validation, the CRDs'
 * structural schemas and their CEL rules (Istio's VirtualService has its own), admission included,
 * and stores nothing. Then `istioctl analyze`, Istio's own validator, over the same objects.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import { ensureNamespace } from "../harness/fixtures";
import { apply, withoutServerFields } from "../harness/objects";
import { render, Rendered } from "../harness/render";
import { HttpError } from "../harness/rest";
import { adminRest, e2eState } from "../harness/state";

const state = e2eState();
const rest = adminRest(state);

/** The render's namespaces, moved aside so this file shares no object with the others. */
const moved = (ns: string) => `e2e-dry-${ns}`;

function relocate(o: any): any {
  const c = withoutServerFields(o);
  if (c.kind === "Namespace") c.metadata.name = moved(c.metadata.name);
  else if (c.metadata.namespace) c.metadata.namespace = moved(c.metadata.namespace);
  return c;
}

const id = (o: any) => `${o.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`;

describe("the offline render of dev + alice + bob, validated by the API server", () => {
  let rendered: Rendered;
  let objects: any[];

  before(async () => {
    rendered = render(["dev", "alice", "bob"]);
    objects = rendered.objects.map(relocate);
    const namespaces = new Set(objects.map((o) => (o.kind === "Namespace" ? o.metadata.name : o.metadata.namespace)).filter(Boolean));
    // Dry-run creates nothing, and a namespaced object needs its namespace to exist.
    for (const ns of namespaces) await ensureNamespace(rest, ns as string);
  });

  it("renders Deployments, Services, VirtualServices, Mappings, Hosts and Listeners (what this check covers)", () => {
    const kinds = new Set(rendered.objects.map((o) => o.kind));
    for (const k of ["Deployment", "Service", "VirtualService", "Mapping", "Host", "Listener"]) assert.ok(kinds.has(k), `no ${k} in the render`);
  });

  it("every object is accepted by server-side dry-run with strict field validation", async () => {
    const refused: string[] = [];
    for (const o of objects) {
      try {
        await apply(rest, o, { dryRun: true });
      } catch (err) {
        refused.push(`${id(o)}: ${(err as Error).message}`);
      }
    }
    assert.deepEqual(refused, []);
  });

  it("the same check refuses a Mapping with a field Emissary's schema does not have (the check can fail)", async () => {
    const mapping = objects.find((o) => o.kind === "Mapping");
    const bad = { ...mapping, spec: { ...mapping.spec, add_request_header: mapping.spec.add_request_headers } };
    // Server-side apply reports it as HTTP 500 "field not declared in schema" (kubernetes/kubernetes#139253, open).
    await assert.rejects(apply(rest, bad, { dryRun: true }), (err: unknown) => err instanceof HttpError && /\.spec\.add_request_header: field not declared in schema/.test(err.message));
  });

  it("the same check refuses a VirtualService route Istio's CRD rules refuse", async () => {
    const vs = objects.find((o) => o.kind === "VirtualService");
    const http = JSON.parse(JSON.stringify(vs.spec.http));
    http[0].match = [{ headers: { "x-fork-identifier": { exact: "a", prefix: "b" } } }]; // StringMatch is a oneof
    await assert.rejects(apply(rest, { ...vs, spec: { ...vs.spec, http } }, { dryRun: true }), (err: unknown) => err instanceof HttpError && err.status === 422);
  });

  it("istioctl analyze reports no errors on the rendered objects", { skip: state.istioctl === undefined ? "istioctl was not built (README: e2e tier)" : false }, () => {
    // As JSON documents (JSON is YAML): this check is about Istio's analysis; the next one is
    // about reading the render's own cluster.yaml.
    const file = path.join(rendered.dir, "..", "for-istioctl.yaml");
    fs.writeFileSync(file, rendered.objects.map((o) => JSON.stringify(withoutServerFields(o))).join("\n---\n"));
    const res = spawnSync(state.istioctl!, ["analyze", "--use-kube=false", "--failure-threshold=Error", file], { encoding: "utf8", timeout: 120_000 });
    assert.equal(res.status, 0, `istioctl analyze exit ${res.status}:\n${res.stdout}\n${res.stderr}`);
    assert.doesNotMatch(res.stdout + res.stderr, /^Error \[/m);
  });

  it(
    "istioctl reads the render's cluster.yaml as written (Go's YAML parsers are YAML 1.1)",
    // render/cluster.ts writes with the YAML 1.1 schema: alice's FEATURE_CHECKOUT_V2: "on" stays
    // a string for Go's parsers (it was `value: on`, a bool to them, and the Deployment was refused).
    { skip: state.istioctl === undefined ? "istioctl was not built" : false },
    () => {
      const res = spawnSync(state.istioctl!, ["analyze", "--use-kube=false", path.join(rendered.dir, "cluster.yaml")], { encoding: "utf8", timeout: 120_000 });
      assert.doesNotMatch(res.stdout + res.stderr, /could not be parsed|cannot unmarshal/);
    },
  );
});
