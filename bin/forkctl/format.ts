/**
 * forkctl's output: `text` for people at a terminal, `json` for machines, `markdown` for a
 * pull-request comment (one sticky comment, found again by its first line's marker).
 */
import type { ForkRecord, GcResult } from "./commands";

export type OutputFormat = "text" | "json" | "markdown";
export const OUTPUT_FORMATS: readonly OutputFormat[] = ["text", "json", "markdown"];

/** The first line of forkctl's pull-request comment: CI finds and updates the comment by it. */
export const commentMarker = (id: string) => `<!-- forkstack:fork:${id} -->`;

function table(rows: string[][]): string[] {
  const widths = rows.reduce<number[]>((w, row) => row.map((cell, i) => Math.max(w[i] ?? 0, cell.length)), []);
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join("  ").trimEnd());
}

const mdRow = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;
const mdTable = (header: string[], rows: string[][]) => [mdRow(header), mdRow(header.map(() => "---")), ...rows.map(mdRow)];

function money(amount: number, currency: string): string {
  return `${amount.toFixed(amount < 1 ? 4 : 2)} ${currency}`;
}

function costLine(r: ForkRecord): string {
  const c = r.cost;
  if (c === undefined) return "unknown";
  const parts = [`${c.pods} pod${c.pods === 1 ? "" : "s"}`];
  if (c.cpu !== undefined) parts.push(`${+c.cpu.toFixed(3)} vCPU`);
  if (c.memoryGiB !== undefined) parts.push(`${+c.memoryGiB.toFixed(3)} GiB requested`);
  const line = parts.join(", ");
  return c.pricePerHour ? `${line}, about ${money(c.pricePerHour.amount, c.pricePerHour.currency)} per hour` : line;
}

function expiryText(expiresAt: string | undefined, now: Date): string {
  if (expiresAt === undefined) return "never";
  const hours = (Date.parse(expiresAt) - now.getTime()) / 3_600_000;
  const rel = hours <= 0 ? "expired" : hours < 48 ? `in ${Math.round(hours)} h` : `in ${Math.round(hours / 24)} days`;
  return `${expiresAt} (${rel})`;
}

/** `forkctl up` / `extend`. */
export function formatFork(r: ForkRecord, format: OutputFormat, now: Date): string {
  if (format === "json") return JSON.stringify(r, null, 2);
  if (format === "markdown") {
    const lines = [commentMarker(r.id), `### forkstack: fork \`${r.id}\``, ""];
    lines.push(...mdTable(["upstream", "fork URL"], Object.entries(r.urls).map(([host, url]) => [host, url])), "");
    if (r.copies.length > 0) {
      lines.push(...mdTable(["service", "copy", "image"], r.copies.map((c) => [c.service, c.copy, c.image ?? "(shared image)"])), "");
    } else {
      lines.push("Header-only fork: no service copied; every request goes to the shared services.", "");
    }
    lines.push(`**Expires:** ${expiryText(r.expiresAt, now)}  `, `**Cost:** ${costLine(r)}`);
    if (r.explained !== undefined) lines.push("", "<details><summary>How the first request is routed</summary>", "", "```", r.explained, "```", "</details>");
    if (r.clusterNote !== undefined) lines.push("", `_${r.clusterNote}_`);
    return lines.join("\n");
  }
  const lines = [`fork ${r.id}${r.changed === false ? ": no changes" : ""}`];
  for (const [host, url] of Object.entries(r.urls)) lines.push(`  ${url}  (${host})`);
  for (const c of r.copies) lines.push(`  copy ${c.service} → ${c.copy}${c.image ? ` (${c.image})` : ""}`);
  lines.push(`  expires: ${expiryText(r.expiresAt, now)}`, `  cost: ${costLine(r)}`);
  if (r.explained !== undefined) lines.push(...r.explained.split("\n").map((l) => `  ${l}`));
  if (r.clusterNote !== undefined) lines.push(`  note: ${r.clusterNote}`);
  return lines.join("\n");
}

/** `forkctl ls`. */
export function formatList(forks: readonly ForkRecord[], format: OutputFormat, now: Date): string {
  if (format === "json") return JSON.stringify(forks, null, 2);
  const rows = forks.map((f) => [f.id, Object.values(f.urls).join(" ") || "-", expiryText(f.expiresAt, now), f.lastUpdate ?? "-", f.error ? `${f.state}: ${f.error}` : f.state]);
  const header = ["fork", "URLs", "expires", "last update", "state"];
  if (format === "markdown") return mdTable(header, rows).join("\n");
  return forks.length === 0 ? "no forks" : table([header, ...rows]).join("\n");
}

/** `forkctl gc`. */
export function formatGc(r: GcResult, format: OutputFormat): string {
  if (format === "json") return JSON.stringify(r, null, 2);
  const verb = r.dryRun ? "would destroy" : "destroyed";
  const lines = [
    `${verb}: ${r.removed.length === 0 ? "none" : r.removed.join(", ")}`,
    ...r.failed.map((f) => `failed: ${f.id}: ${f.error}`),
    `kept: ${r.kept.length === 0 ? "none" : r.kept.join(", ")}`,
    ...sweepLines(r),
  ];
  return format === "markdown" ? lines.map((l) => `- ${l}`).join("\n") : lines.join("\n");
}

/** gc's sweep of retired routes left by forks that are gone, one line per VirtualService. */
function sweepLines(r: GcResult): string[] {
  if (r.sweep === undefined) return r.sweepNote ? [`swept: ${r.sweepNote}`] : [];
  const verb = r.dryRun ? "would sweep" : "swept";
  return [
    ...(r.sweep.swept.length === 0 ? [`${verb}: no retired routes of forks that are gone`] : r.sweep.swept.map((s) => `${verb}: ${s.routes.join(", ")} from VirtualService ${s.virtualService}`)),
    ...r.sweep.failed.map((f) => `failed: sweeping VirtualService ${f.virtualService}: ${f.error}`),
  ];
}

/** `forkctl down`. */
export function formatDown(r: { id: string; removed: boolean }, format: OutputFormat): string {
  if (format === "json") return JSON.stringify(r);
  const text = r.removed ? `fork ${r.id} destroyed and its stack removed` : `fork ${r.id}: no such stack, nothing to do`;
  return format === "markdown" ? `${commentMarker(r.id)}\n### forkstack: fork \`${r.id}\`\n\n${text}.` : text;
}
