/**
 * What the render CLI and the demo print. Pure: plain data in, text out. The cost figures make the
 * point of forkstack visible: a fork pays for the services it copied (N + D pods for N services
 * and D forks), where copying the whole environment per developer pays N × D.
 */
import { KubeObject } from "./cluster";
import { LABELS, isRouteOfFork } from "../components/naming";
import type { RenderResult, RenderSummary } from "./render";
import { maskedOutputs } from "./render";

// --- render CLI summary --------------------------------------------------------------------------

/** URLs among a stack's outputs: `urls` as a map or list of strings, or any https:// string output. */
export function urlsOf(outputs: Record<string, unknown>): string[] {
  const found: string[] = [];
  const visit = (v: unknown) => {
    if (typeof v === "string" && /^https?:\/\//.test(v)) found.push(v);
    else if (Array.isArray(v)) v.forEach(visit);
    else if (v !== null && typeof v === "object") Object.values(v).forEach(visit);
  };
  visit(outputs.urls);
  for (const [k, v] of Object.entries(outputs)) if (k !== "urls" && typeof v === "string") visit(v);
  return [...new Set(found)];
}

function table(rows: string[][]): string[] {
  const widths = rows.reduce<number[]>((w, row) => row.map((cell, i) => Math.max(w[i] ?? 0, cell.length)), []);
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join("  ").trimEnd());
}

/** "1 object", "2 objects". */
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** The render CLI's stdout: one line per stack and where the files went. */
export function formatRenderSummary(summary: RenderSummary): string {
  const n = summary.stacks.length;
  const lines = [`rendered ${plural(n, "stack")}${summary.outDir ? ` into ${summary.outDir}` : ""}: cluster.yaml (${plural(summary.clusterObjects, "object")}), resources.json, outputs.json`];
  const rows = summary.stacks.map((s) => [
    `  ${s.stack}`,
    s.kind,
    `${plural(s.resources, "resource")}, ${plural(s.objects.length, "object")}, ${plural(s.reads, "read")}`,
    urlsOf(s.outputs).join(" "),
  ]);
  return `${[...lines, ...table(rows)].join("\n")}\n`;
}

// --- demo report ---------------------------------------------------------------------------------

export interface ForkCost {
  /** Kubernetes objects the fork created (copies, Mappings, VirtualServices it made). */
  objects: number;
  /** Named routes the fork holds in shared VirtualServices. */
  routes: number;
  /** Pods its Deployments run (replicas). */
  pods: number;
}

export interface ForkReport {
  stack: string;
  forkId: string;
  urls: string[];
  /** One line per copied service, e.g. `api.shop → api-alice.shop (registry.example.com/api:alice-1)`. */
  copied: string[];
  cost: ForkCost;
  /** One explained request through the fork, already formatted (render/explain.ts). */
  explained?: string;
}

/** What copying the whole shared environment once would cost. */
export interface WholeCopyCost {
  namespaces: string[];
  deployments: number;
  pods: number;
  objects: number;
}

export interface DemoReport {
  baseStack: string;
  sharedUrls: string[];
  forks: ForkReport[];
  wholeCopy: WholeCopyCost;
}

function replicasOf(o: KubeObject): number {
  const r = (o.spec as { replicas?: unknown } | undefined)?.replicas;
  // Kubernetes defaults spec.replicas to 1 (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#replicas).
  return typeof r === "number" ? r : 1;
}

/** Objects forks brought: their copies and Mappings (fork label), and VirtualServices forkstack created for them. */
const isForkObject = (o: KubeObject) => o.metadata.labels?.[LABELS.fork] !== undefined || o.metadata.annotations?.[LABELS.createdBy] !== undefined;

/**
 * What a fork costs, read from the cluster after the render: the objects carrying its fork label,
 * its named routes in VirtualServices, and the replicas of its Deployments.
 */
export function forkCost(objects: readonly KubeObject[], forkId: string): ForkCost {
  const own = objects.filter((o) => o.metadata.labels?.[LABELS.fork] === forkId);
  const routes = objects
    .filter((o) => o.kind === "VirtualService")
    .flatMap((vs) => ((vs.spec as { http?: { name?: string }[] } | undefined)?.http ?? []).filter((r) => isRouteOfFork(r.name, forkId)));
  const pods = own.filter((o) => o.kind === "Deployment").reduce((sum, d) => sum + replicasOf(d), 0);
  return { objects: own.length, routes: routes.length, pods };
}

/** What one full copy of the shared workloads in `namespaces` would cost (fork objects excluded). */
export function wholeCopyCost(objects: readonly KubeObject[], namespaces: readonly string[]): WholeCopyCost {
  const shared = objects.filter((o) => namespaces.includes(o.metadata.namespace ?? "") && !isForkObject(o));
  const deployments = shared.filter((o) => o.kind === "Deployment");
  return {
    namespaces: [...namespaces].sort(),
    deployments: deployments.length,
    pods: deployments.reduce((sum, d) => sum + replicasOf(d), 0),
    objects: shared.length,
  };
}

function indent(text: string, prefix: string): string[] {
  return text.trimEnd().split("\n").map((l) => `${prefix}${l}`);
}

/** The widest line the demo prints. */
export const DEMO_WIDTH = 100;

/** The demo's report: readable in ten seconds, the explained requests below the numbers. */
export function formatDemoReport(report: DemoReport): string {
  const { wholeCopy } = report;
  const lines: string[] = [];
  lines.push(`Shared environment (stack ${report.baseStack}): ${report.sharedUrls.join(" ") || "(no URLs)"}`);
  lines.push(
    `  ${plural(wholeCopy.deployments, "Deployment")} / ${plural(wholeCopy.pods, "pod")} / ${plural(wholeCopy.objects, "object")} in ${wholeCopy.namespaces.join(", ") || "(none)"}`,
  );
  lines.push("");
  const continued = " ".repeat("  copied:  ".length);
  for (const fork of report.forks) {
    lines.push(`Fork ${fork.forkId} (stack ${fork.stack})`);
    lines.push(`  URL:     ${fork.urls.join(" ") || "(none)"}`);
    const copied = fork.copied.length === 0 ? ["nothing (header-only fork)"] : fork.copied;
    lines.push(...copied.map((c, i) => `${i === 0 ? "  copied:  " : continued}${c}`));
    lines.push(`  costs:   ${plural(fork.cost.pods, "pod")}, ${plural(fork.cost.objects, "object")}, ${plural(fork.cost.routes, "route")} in shared VirtualServices`);
    lines.push(`${continued}(a full copy: ${plural(wholeCopy.pods, "pod")}, ${plural(wholeCopy.objects, "object")})`);
    lines.push("");
  }
  lines.push(demoCostLine(report));
  for (const fork of report.forks) {
    if (fork.explained === undefined) continue;
    lines.push("");
    lines.push(`A request to ${fork.urls[0] ?? fork.forkId}:`);
    lines.push(...indent(fork.explained, "  "));
  }
  return `${lines.join("\n")}\n`;
}

/** The line README.md quotes: what the forks cost in pods against a whole copy per fork. */
export function demoCostLine(report: DemoReport): string {
  const { wholeCopy } = report;
  const forkPods = report.forks.reduce((sum, f) => sum + f.cost.pods, 0);
  const n = report.forks.length;
  return (
    `${plural(n, "fork")} cost ${plural(forkPods, "pod")} on top of the shared ${wholeCopy.pods}; ` +
    `copying the environment per fork would cost ${plural(n * wholeCopy.pods, "pod")}.`
  );
}

// --- building the demo report from a render ------------------------------------------------------

interface UpstreamOutput {
  host: string;
  service: { name: string; namespace: string };
}

interface CopyOutput {
  service: string;
  copy: string;
  image?: string;
}

function isFork(config: Record<string, unknown>): boolean {
  return config["forkstack:fork"] !== undefined;
}

/** What a fork copied: the stack's `copies` output when it has one, else its config's services. */
function copiedOf(outputs: Record<string, unknown>, config: Record<string, unknown>): string[] {
  if (Array.isArray(outputs.copies)) {
    return (outputs.copies as CopyOutput[]).map((c) => `${c.service} → ${c.copy}${c.image ? ` (${c.image})` : ""}`);
  }
  const services = ((config["forkstack:fork"] as { services?: { name: string; namespace: string; image?: string }[] }).services ?? []);
  return services.map((s) => `${s.name}.${s.namespace}${s.image ? ` (${s.image})` : ""}`);
}

/**
 * The demo report of a render of one base stack and its forks: URLs and copies from the stacks'
 * outputs, costs from the cluster after the render. `explain` returns one formatted explained
 * request for a fork's host (render/explain.ts), or undefined.
 */
export function buildDemoReport(render: RenderResult, explain?: (forkId: string, host: string) => string | undefined): DemoReport {
  const objects = render.cluster.all();
  const entries = render.results.map((result, i) => ({ result, config: render.configs[i]?.config ?? {} }));
  const base = entries.find((e) => !isFork(e.config));
  const upstreams = (base?.result.outputs.upstreams ?? []) as UpstreamOutput[];
  const namespaces = new Set(upstreams.map((u) => u.service.namespace));

  const forks = entries.filter((e) => isFork(e.config)).map(({ result, config }): ForkReport => {
    const fork = config["forkstack:fork"] as { id: string; services?: { namespace: string }[] };
    for (const s of fork.services ?? []) namespaces.add(s.namespace);
    const urls = urlsOf(maskedOutputs(result));
    const host = urls.length > 0 ? new URL(urls[0]).host : undefined;
    return {
      stack: result.stack,
      forkId: String(fork.id),
      urls,
      copied: copiedOf(result.outputs, config),
      cost: forkCost(objects, String(fork.id)),
      explained: host !== undefined && explain ? explain(String(fork.id), host) : undefined,
    };
  });

  return {
    baseStack: base?.result.stack ?? "(none)",
    sharedUrls: upstreams.map((u) => `https://${u.host}/`),
    forks,
    wholeCopy: wholeCopyCost(objects, [...namespaces]),
  };
}
