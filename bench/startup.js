#!/usr/bin/env node
/**
 * Start-up of the program as `pulumi up` starts it: the Pulumi Node.js host reads the tsconfig that
 * Pulumi.yaml names, takes its `compilerOptions.noCheck` as ts-node's `transpileOnly`
 * (@pulumi/pulumi cmd/run/run.js; `PULUMI_NODEJS_TRANSPILE_ONLY` overrides it), registers ts-node
 * and requires index.ts, which compiles every component it imports. This measures exactly that,
 * in a fresh process per run, for the type-checking tsconfig.json (what Pulumi used before) and
 * for tsconfig.pulumi.json (noCheck), and prints the median of each.
 *
 *   node bench/startup.js [RUNS=5]   (--help: usage)
 */
"use strict";
const { spawnSync } = require("child_process");
const path = require("path");

const root = path.join(__dirname, "..");

const USAGE = `usage: npm run bench:startup [-- RUNS]   (node bench/startup.js [RUNS])

Loads index.ts as the Pulumi Node.js host does, RUNS times in a fresh process for each tsconfig
(tsconfig.json, tsconfig.pulumi.json), and prints the median, min and max of each.

  RUNS        how many runs per tsconfig, 1 to 100 (default: 5)
  -h, --help  print this help and exit (default: off)

exit code: 0 done, 1 a run failed, 2 the arguments are wrong (one line bench:startup: …)`;

/** The runs per tsconfig from the arguments; exits 0 after --help, 2 with one line for a wrong argument. */
function parseRuns(argv) {
  const usageError = (line) => {
    process.stderr.write(`bench:startup: ${line}; see npm run bench:startup -- --help\n`);
    process.exit(2);
  };
  let parsed;
  try {
    parsed = require("util").parseArgs({ args: argv, options: { help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: true });
  } catch (err) {
    const flag = /'(-[^']*)'/.exec(err.message)?.[1] ?? "option";
    usageError(`${flag}: ${JSON.stringify(flag)} is not an option; the only flag is --help, the one argument RUNS`);
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const [text, extra] = parsed.positionals;
  if (extra !== undefined) usageError(`argument: ${JSON.stringify(extra)} is not expected; give one number of runs, e.g. 5`);
  if (text === undefined) return 5;
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 100)) usageError(`RUNS: ${JSON.stringify(text)} is not a whole number from 1 to 100; give e.g. 5`);
  return n;
}

const runs = parseRuns(process.argv.slice(2));

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

let rows;
try {
  rows = ["tsconfig.json", "tsconfig.pulumi.json"].map(measure);
} catch (err) {
  process.stderr.write(`bench:startup: ${err.message.split("\n")[0]}\n`);
  process.exit(1);
}
console.log(`Node ${process.version}, ${runs} runs each: load index.ts as the Pulumi Node.js host does`);
console.log("| tsconfig | ts-node transpileOnly | median ms | min ms | max ms |");
console.log("|---|---|---|---|---|");
for (const r of rows) console.log(`| ${r.tsconfig} | ${r.transpileOnly} | ${r.median.toFixed(0)} | ${r.min.toFixed(0)} | ${r.max.toFixed(0)} |`);
