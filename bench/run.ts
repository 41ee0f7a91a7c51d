/**
 * `npm run bench [-- --only render|routes] [--quick] [--no-write] [--forks 50,100,200]
 * [--strategies turns,patch,replace] [--server test|kube]`: runs the benchmarks, prints their tables and
 * writes them into BENCHMARKS.md between their markers (the prose around them stays as written).
 *
 * Render: base + D forks of a synthetic N-service environment (bench/envgen.ts), each (N, D) in a
 * fresh process (bench/renderOne.ts) so wall time and peak memory are that run's alone.
 * Routes: D forks adding, changing and removing their routes in one VirtualService at once, over
 * HTTP against the local API test server (bench/routes.ts) or, with `--server kube`, the e2e
 * tier's real kube-apiserver (bench/kubeServer.ts): with JSON Patches taking turns (the live path),
 * with JSON Patches all at once, and with the old replace at the read resourceVersion.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { oneLine } from "../components/errors";
import { flagPhrase, FlagTable, formatFlags, HELP_FLAG, parseFlags, usageLine } from "../render/args";
import { withKubeServer } from "./kubeServer";
import { ROUTE_RETRY_LIMIT, routeWrites, RoutePhaseResult, Strategy, STRATEGIES, withTestServer } from "./routes";

const root = path.join(__dirname, "..");

/** bench's flags: what parseArgs parses and what --help prints. */
export const FLAGS = {
  only: { type: "string", arg: "render|routes", ifOmitted: "both", help: "run only the render or only the route-write benchmark" },
  quick: { type: "boolean", ifOmitted: "off", help: "fewer sizes (N 20, 140; D 1, 10; 50 forks writing routes), for a quick look" },
  "no-write": { type: "boolean", ifOmitted: "off: BENCHMARKS.md is updated", help: "print the tables only, leave BENCHMARKS.md as it is" },
  forks: { type: "string", arg: "LIST", ifOmitted: "50,100,200 (--quick: 50)", help: "route writes: how many forks write at once, e.g. 50,100" },
  strategies: { type: "string", arg: "LIST", ifOmitted: "turns,patch,replace", help: "route writes: which ways of writing to compare (comma-separated)" },
  server: { type: "string", arg: "test|kube", ifOmitted: "test", help: "route writes against the local API test server, or the e2e tier's kube-apiserver (kube: with --only routes)" },
  help: HELP_FLAG,
} as const satisfies FlagTable;

export const USAGE = `${usageLine("usage: npm run bench [-- [--only render|routes] [--quick] [--no-write] [--forks LIST] [--strategies LIST] [--server test|kube]]")}

Runs the benchmarks, prints their tables and writes them into BENCHMARKS.md between their markers.

${formatFlags(FLAGS)}

exit code: 0 done, 1 a benchmark failed, 2 the arguments are wrong (one line bench: …)`;

const ARGS_HELP = { flags: flagPhrase(FLAGS), positionalFix: "pass everything as --flag value", help: "see npm run bench -- --help" };

/** Wrong arguments: one line, exit code 2, nothing run. */
class UsageError extends Error {}

interface RenderRun {
  services: number;
  forks: number;
  upstreams: number;
  loadMs: number;
  wallMs: number;
  baseMs: number;
  forkMs: number[];
  maxRssMiB: number;
  perFork: { k: number; deployments: number; services: number; mappings: number; routes: number; pods: number }[];
  namespaceCopy: { objects: number; pods: number };
}

function renderRun(services: number, forks: number): RenderRun {
  const ts = require.resolve("ts-node/dist/bin", { paths: [root] });
  const r = spawnSync(process.execPath, [ts, "--transpile-only", path.join(__dirname, "renderOne.ts"), String(services), String(forks)], { cwd: root, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`render N=${services} D=${forks} failed: ${r.stderr.trim().split("\n")[0]}`);
  return JSON.parse(r.stdout) as RenderRun;
}

const median = (xs: number[]) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const ms = (x: number) => (Number.isNaN(x) ? "-" : x >= 10000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`);

function table(header: string[], rows: (string | number)[][]): string {
  return [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

function renderTables(runs: RenderRun[]): string {
  const timing = table(
    ["N services", "D forks", "upstreams", "start-up", "base", "wall (read config, seed, base + D forks)", "1st fork", "marginal fork (median of the rest)", "max fork", "peak RSS"],
    runs.map((r) => [
      r.services,
      r.forks,
      r.upstreams,
      ms(r.loadMs),
      ms(r.baseMs),
      ms(r.wallMs),
      ms(r.forkMs[0] ?? NaN),
      ms(median(r.forkMs.slice(1))),
      ms(r.forkMs.length > 1 ? Math.max(...r.forkMs.slice(1)) : NaN),
      `${Math.round(r.maxRssMiB)} MiB`,
    ]),
  );
  // What one fork costs against the formula (k copies of Deployment and Service, one Mapping per
  // upstream, k routes) and against copying every namespace of the environment.
  const cost = table(
    ["N services", "fork of k services", "Deployments", "Services", "Mappings", "routes", "pods", "formula 2k + U objects, k routes, k pods", "namespace copy: objects / pods"],
    runs
      .filter((r) => r.forks >= 10)
      .map((r) => {
        const f = r.perFork.find((p) => p.k > 0)!;
        const formulaOk = f.deployments === f.k && f.services === f.k && f.mappings === r.upstreams && f.routes === f.k && f.pods === f.k;
        const all = r.perFork.every((p) => p.deployments === p.k && p.services === p.k && p.mappings === r.upstreams && p.routes === p.k && p.pods === p.k);
        return [r.services, f.k, f.deployments, f.services, f.mappings, f.routes, f.pods, all ? "holds for every fork" : formulaOk ? "holds for this fork, not all" : "DOES NOT HOLD", `${r.namespaceCopy.objects} / ${r.namespaceCopy.pods}`];
      }),
  );
  return `${timing}\n\n${cost}`;
}

/** Replaces the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`. */
function writeSection(name: string, body: string): void {
  const file = path.join(root, "BENCHMARKS.md");
  const text = fs.readFileSync(file, "utf8");
  const start = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`BENCHMARKS.md has no ${start} … ${end} section`);
  fs.writeFileSync(file, `${text.slice(0, i + start.length)}\n${body}\n${text.slice(j)}`);
}

function routeTable(rows: RoutePhaseResult[]): string {
  return table(
    ["write", "D forks", "phase", "failures", "routes lost", "duplicated", "left behind", "app route and fields intact", "writes refused (409/422)", "mean attempts", "max attempts", "Lease checks per fork (mean)", "wrote without a turn", "total time"],
    rows.map((r) => [
      STRATEGY_LABELS[r.strategy],
      r.forks,
      r.phase,
      r.failures,
      r.lost,
      r.duplicated,
      r.leftBehind,
      r.appIntact ? "yes" : "NO",
      r.refused,
      r.meanAttempts.toFixed(2),
      r.maxAttempts,
      r.meanTurnChecks === undefined ? "-" : r.meanTurnChecks.toFixed(1),
      r.unqueued ?? "-",
      ms(r.wallMs),
    ]),
  );
}

const STRATEGY_LABELS: Record<Strategy, string> = {
  turns: "JSON Patch, taking turns (now)",
  patch: "JSON Patch, all at once (before turns)",
  replace: "replace at resourceVersion (before JSON Patch)",
};

function machine(): string {
  return `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average ${os.loadavg()[0].toFixed(1)} at the start, ${new Date().toISOString().slice(0, 10)}`;
}

async function main(argv: readonly string[]): Promise<number> {
  const values = parseFlags(argv, FLAGS, ARGS_HELP, (message) => new UsageError(message));
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const only = values.only;
  if (only !== undefined && only !== "render" && only !== "routes") throw new UsageError(`--only must be render or routes, not ${JSON.stringify(only)}`);
  const server = values.server ?? "test";
  if (server !== "test" && server !== "kube") throw new UsageError(`--server must be test (the local API test server) or kube (the e2e tier's kube-apiserver), not ${JSON.stringify(server)}`);
  if (server === "kube" && only !== "routes") throw new UsageError("--server kube applies to the route writes only: add --only routes");
  // Checked before anything runs: a wrong flag must not cost a render benchmark first.
  const forks = (values.forks ?? (values.quick ? "50" : "50,100,200")).split(",").map(Number);
  const strategies = (values.strategies ?? STRATEGIES.join(",")).split(",") as Strategy[];
  if (forks.some((d) => !Number.isInteger(d) || d < 1)) throw new UsageError(`--forks takes positive integers such as 50,100,200, not ${JSON.stringify(values.forks)}`);
  const unknown = strategies.find((s) => !STRATEGIES.includes(s));
  if (unknown !== undefined) throw new UsageError(`--strategies takes one or more of ${STRATEGIES.join(", ")} (comma-separated), not ${JSON.stringify(unknown)}`);
  const flags = [values.quick ? "--quick" : "", only ? `--only ${only}` : "", values.forks ? `--forks ${values.forks}` : "", values.strategies ? `--strategies ${values.strategies}` : "", values.server ? `--server ${values.server}` : ""].filter((f) => f !== "").join(" ");
  const command = `\`npm run bench${flags ? ` -- ${flags}` : ""}\``;

  if (only !== "routes") {
    const ns = values.quick ? [20, 140] : [20, 140, 500];
    const ds = values.quick ? [1, 10] : [1, 10, 50, 100];
    const runs: RenderRun[] = [];
    const at = machine();
    for (const n of ns) {
      for (const d of ds) {
        process.stderr.write(`bench: render N=${n} D=${d}…\n`);
        runs.push(renderRun(n, d));
      }
    }
    const body = `Measured on ${at} (${command}).\n\n${renderTables(runs)}`;
    process.stdout.write(`${body}\n\n`);
    if (!values["no-write"]) writeSection("render", body);
  }

  if (only !== "render") {
    const rows: RoutePhaseResult[] = [];
    const at = machine();
    let against = "the local API test server";
    const runs = async (each: (strategy: Strategy, d: number) => Promise<RoutePhaseResult[]>) => {
      for (const strategy of strategies) {
        for (const d of forks) {
          process.stderr.write(`bench: route writes, ${strategy}, D=${d}…\n`);
          rows.push(...(await each(strategy, d)));
        }
      }
    };
    if (server === "kube") {
      await withKubeServer(async (target, version) => {
        against = `kube-apiserver ${version} (the e2e tier's)`;
        await runs(async (strategy, d) => routeWrites(d, strategy, await target(`bench-${strategy}-${d}`)));
      });
    } else {
      await runs((strategy, d) => withTestServer((target) => routeWrites(d, strategy, target)));
    }
    const errors = rows.filter((r) => r.firstError !== undefined).map((r) => `- ${r.strategy}, D=${r.forks}, ${r.phase}: ${r.firstError}`);
    const swept = rows
      .filter((r) => r.leftAfterNextAdd !== undefined)
      .map((r) => `- ${STRATEGY_LABELS[r.strategy]}, D=${r.forks}: ${r.leftBehind} left behind, ${r.leftAfterNextAdd} after one more fork added its route`);
    const body =
      `Measured on ${at} against ${against} (${command}); retry limit ${ROUTE_RETRY_LIMIT} attempts (the default).\n\n${routeTable(rows)}` +
      (swept.length > 0 ? `\n\nRoutes of the forks that left in "leave half", then after the next write there:\n\n${swept.join("\n")}` : "") +
      (errors.length > 0 ? `\n\nFirst failure of each run that had one:\n\n${errors.join("\n")}` : "");
    process.stdout.write(`${body}\n`);
    if (!values["no-write"]) writeSection(server === "kube" ? "routes-kube" : "routes", body);
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`bench: ${err instanceof UsageError ? err.message : oneLine(err)}\n`);
      process.exitCode = err instanceof UsageError ? 2 : 1;
    },
  );
}
