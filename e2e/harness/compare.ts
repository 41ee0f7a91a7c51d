/**
 * Render versus live cluster: what the offline render predicts against what `pulumi up` made.
 *
 * The live object is a superset of what was sent: the server adds its own fields (uid,
 * resourceVersion, managedFields, status, a Service's clusterIP) and defaults (a port's protocol,
 * a container's terminationMessagePath, a Deployment's strategy, ...), documented per type in the
 * API reference. So the check is: every field the render has is in the live object with the same
 * value ("render ⊆ live"), and the same objects exist on both sides. Each difference is listed as
 * a path with both values.
 */
export const idOf = (o: any) => `${o.kind} ${o.metadata?.namespace ?? ""}/${o.metadata?.name}`;

export function subsetDifferences(expected: unknown, actual: unknown, at = ""): string[] {
  // The API server omits empty maps and lists (`omitempty`): {} or [] in the render is no field live.
  if (actual === undefined && isEmpty(expected)) return [];
  if (expected === null || typeof expected !== "object") {
    return expected === actual ? [] : [`${at || "."}: render ${JSON.stringify(expected)}, live ${JSON.stringify(actual)}`];
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return [`${at}: render ${JSON.stringify(expected)}, live ${JSON.stringify(actual)}`];
    return expected.flatMap((e, i) => subsetDifferences(e, actual[i], `${at}[${i}]`));
  }
  if (actual === null || typeof actual !== "object" || Array.isArray(actual)) return [`${at}: render ${JSON.stringify(expected)}, live ${JSON.stringify(actual)}`];
  return Object.entries(expected as Record<string, unknown>).flatMap(([k, v]) => subsetDifferences(v, (actual as Record<string, unknown>)[k], `${at}.${k}`));
}

const isEmpty = (v: unknown) => v !== null && typeof v === "object" && Object.keys(v as object).length === 0;

/** The render simulates what the server sets (resourceVersion, uid, timestamps, status); those are the server's, not a prediction. */
export function withoutServerSet(o: any): any {
  const c = JSON.parse(JSON.stringify(o));
  delete c.status;
  for (const k of ["uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"]) delete c.metadata?.[k];
  if (c.kind === "Service") {
    delete c.spec?.clusterIP;
    delete c.spec?.clusterIPs;
  }
  return c;
}

/** Every difference between the two object sets, one line each, sorted. */
export function compareObjects(rendered: any[], live: any[]): string[] {
  const byId = new Map(live.map((o) => [idOf(o), o]));
  const out: string[] = [];
  for (const r of rendered) {
    const l = byId.get(idOf(r));
    if (l === undefined) out.push(`${idOf(r)}: in the render, not in the cluster`);
    else out.push(...subsetDifferences(withoutServerSet(r), l).map((d) => `${idOf(r)} ${d}`));
    byId.delete(idOf(r));
  }
  for (const id of byId.keys()) out.push(`${id}: in the cluster, not in the render`);
  return out.sort();
}
