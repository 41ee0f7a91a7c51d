/** Runs the offline render (render/cli.ts) the way `npm run render` does, into a new folder. */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ROOT, yamlDocs } from "./fixtures";

export interface Rendered {
  dir: string;
  objects: any[];
  outputs: Record<string, any>;
}

export function render(stacks: string[], opts: { configDir?: string; clusterFiles?: string[]; now?: string } = {}): Rendered {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "forkstack-e2e-render-")), "out");
  const args = ["--require", "ts-node/register/transpile-only", path.join(ROOT, "render", "cli.ts"), "--config-dir", opts.configDir ?? path.join(ROOT, "examples")];
  for (const c of opts.clusterFiles ?? [path.join(ROOT, "examples", "cluster", "shop.yaml")]) args.push("--cluster", c);
  for (const s of stacks) args.push("--stack", s);
  if (opts.now) args.push("--now", opts.now);
  args.push("--out", dir);
  const res = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8", timeout: 180_000 });
  if (res.status !== 0) throw new Error(`render ${stacks.join(",")} failed (exit ${res.status}): ${res.stderr.trim().split("\n").slice(-5).join(" | ")}`);
  return { dir, objects: yamlDocs(path.join(dir, "cluster.yaml")), outputs: JSON.parse(fs.readFileSync(path.join(dir, "outputs.json"), "utf8")) };
}
