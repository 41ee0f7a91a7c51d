/**
 * The CRDs forkstack's objects need on the e2e API server, from upstream sources only:
 *
 * - Istio: the base chart's `crd-all.gen.yaml` from the istio.io/istio Go module (what `helm
 *   install base` applies), copied into the build cache by e2e/build.sh.
 * - Emissary: the Go module proxy reachable here does not serve github.com/emissary-ingress/emissary
 *   (docs/e2e.md), so its generated crds.yaml cannot be had. The `v3alpha1` schemas of
 *   Mapping, Host and Listener vendored from Emissary's CRD chart (test/fixtures/crds/
 *   emissary-v3alpha1.yaml, with their source commits) are wrapped into CRDs here: group, names and
 *   scope as in the chart; one version, v3alpha1, served and stored, conversion None. Emissary's
 *   chart stores v2 and converts through its `emissary-apiext` webhook, which does not run here.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseAllDocuments, parse } from "yaml";
import { call, pathOf, request, RestConfig, waitFor, withRetry } from "./rest";

const CRD_API = "apiextensions.k8s.io/v1";

export const EMISSARY_SCHEMAS = path.join(__dirname, "..", "..", "test", "fixtures", "crds", "emissary-v3alpha1.yaml");

/** Every CustomResourceDefinition document of a multi-document YAML file. */
export function crdsOf(file: string): any[] {
  return parseAllDocuments(fs.readFileSync(file, "utf8"))
    .map((d) => d.toJSON())
    .filter((o) => o && o.kind === "CustomResourceDefinition");
}

export function emissaryCrds(schemaFile = EMISSARY_SCHEMAS): any[] {
  const schemas = parse(fs.readFileSync(schemaFile, "utf8")) as Record<string, unknown>;
  return Object.entries(schemas).map(([kind, schema]) => {
    const plural = `${kind.toLowerCase()}s`;
    return {
      apiVersion: CRD_API,
      kind: "CustomResourceDefinition",
      metadata: { name: `${plural}.getambassador.io`, labels: { "app.kubernetes.io/part-of": "emissary-crds", "forkstack.dev/e2e": "wrapped-v3alpha1-schema" } },
      spec: {
        group: "getambassador.io",
        names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase(), categories: ["ambassador-crds"] },
        scope: "Namespaced",
        conversion: { strategy: "None" },
        versions: [{ name: "v3alpha1", served: true, storage: true, schema: { openAPIV3Schema: schema } }],
      },
    };
  });
}

/** Creates (or replaces) each CRD and waits until the API server reports it Established. */
export async function installCrds(rest: RestConfig, crds: any[], timeoutMs = 60_000): Promise<string[]> {
  for (const crd of crds) {
    const p = pathOf(CRD_API, "customresourcedefinitions", undefined, crd.metadata.name);
    // Server-side apply: idempotent, so a retried call after a lost answer is harmless.
    await withRetry(() => call(rest, "PATCH", `${p}?fieldManager=forkstack-e2e&force=true`, crd, { contentType: "application/apply-patch+yaml" }));
  }
  const names = crds.map((c) => c.metadata.name as string);
  for (const name of names) {
    await waitFor(
      `CRD ${name} Established`,
      async () => {
        const res = await request(rest, "GET", pathOf(CRD_API, "customresourcedefinitions", undefined, name));
        return (res.body?.status?.conditions ?? []).some((c: any) => c.type === "Established" && c.status === "True");
      },
      timeoutMs,
    );
  }
  return names;
}
