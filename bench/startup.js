#!/usr/bin/env node
/**
 * Start-up of the program as `pulumi up` starts it: the Pulumi Node.js host reads the tsconfig that
 * Pulumi.yaml names, takes its `compilerOptions.noCheck` as ts-node's `transpileOnly`
 * (@pulumi/pulumi cmd/run/run.js; `PULUMI_NODEJS_TRANSPILE_ONLY` overrides it), registers ts-node
 * and requires index.ts, which compiles every component it imports. This measures exactly that,
 * in a fresh process per run, for the type-checking tsconfig.json (what Pulumi used before) and
 * for tsconfig.pulumi.json (noCheck), and prints the median of each.
 *
 *   node bench/startup.js [runs=5]
 */
"use strict";
const { spawnSync } = require("child_process");
const path = require("path");

const root = path.join(__dirname, "..");
const runs = Number(process.argv[2] ?? 5);

// The child does what cmd/run/run.js does before it runs the program, then stops.
const child = `
  const t0 = process.hrtime.bigint();
  const { loadTypeScriptCompilerOptions } = require("@pulumi/pulumi/tsutils");
  const project = process.argv[1];
  const transpileOnly = loadTypeScriptCompilerOptions(project).noCheck;
  require("ts-node").register({ compiler: "typescript", transpileOnly, project, skipProject: false, compilerOptions: {} });
  require("./index.ts");
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write(JSON.stringify({ transpileOnly: transpileOnly === true, ms }));
`;

function measure(tsconfig) {
  const times = [];
  let transpileOnly;
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(process.execPath, ["-e", child, tsconfig], { cwd: root, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${tsconfig}: ${r.stderr.split("\n").find((l) => l.trim() !== "")}`);
    const out = JSON.parse(r.stdout);
    transpileOnly = out.transpileOnly;
    times.push(out.ms);
  }
  times.sort((a, b) => a - b);
  return { tsconfig, transpileOnly, median: times[Math.floor(times.length / 2)], min: times[0], max: times[times.length - 1] };
}

const rows = ["tsconfig.json", "tsconfig.pulumi.json"].map(measure);
console.log(`Node ${process.version}, ${runs} runs each: load index.ts as the Pulumi Node.js host does`);
console.log("| tsconfig | ts-node transpileOnly | median ms | min ms | max ms |");
console.log("|---|---|---|---|---|");
for (const r of rows) console.log(`| ${r.tsconfig} | ${r.transpileOnly} | ${r.median.toFixed(0)} | ${r.min.toFixed(0)} | ${r.max.toFixed(0)} |`);
