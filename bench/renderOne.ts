/**
 * One render benchmark run, in its own process so its peak memory is its own:
 *   ts-node bench/renderOne.ts N D
 * Renders base + D forks of a synthetic N-service environment (bench/envgen.ts) and prints one
 * JSON line: wall time, time per stack, peak RSS, and what each fork created.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { forkCost } from "../render/report";
import { renderStacks } from "../render/render";
import { baseConfig, EnvShape, forkConfig, ForkShape, forkServices, sharedObjects } from "./envgen";

const loadedAt = performance.now();

async function main() {
  const services = Number(process.argv[2]);
  const forks = Number(process.argv[3]);
  const env: EnvShape = { services, upstreams: 3 };
  const shape: ForkShape = { forks, perFork: 2, headerOnlyEvery: 10 };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "forkstack-bench-"));
  try {
    const shared = sharedObjects(env);
    const base = baseConfig(env);
    fs.writeFileSync(path.join(dir, "cluster.yaml"), shared.map((o) => YAML.stringify(o)).join("---\n"));
    fs.writeFileSync(path.join(dir, "Pulumi.base.yaml"), YAML.stringify({ config: base }));
    const stacks = ["base"];
    for (let j = 0; j < forks; j++) {
      fs.writeFileSync(path.join(dir, `Pulumi.f${j}.yaml`), YAML.stringify({ config: forkConfig(j, env, shape) }));
      stacks.push(`f${j}`);
    }
    const marks: number[] = [];
    const t0 = performance.now();
    const render = await renderStacks({ stacks, configDir: dir, clusterFiles: [path.join(dir, "cluster.yaml")], onProgress: () => marks.push(performance.now()) });
    const t1 = performance.now();
    marks.push(t1);
    const perStack = marks.slice(1).map((m, i) => m - marks[i]);
    const objects = render.cluster.all();
    const perFork = Array.from({ length: forks }, (_, j) => {
      const id = `f${j}`;
      const own = objects.filter((o) => o.metadata.labels?.["forkstack.dev/fork"] === id);
      const k = forkServices(j, env, shape).length;
      const cost = forkCost(objects, id);
      return {
        k,
        deployments: own.filter((o) => o.kind === "Deployment").length,
        services: own.filter((o) => o.kind === "Service").length,
        mappings: own.filter((o) => o.kind === "Mapping").length,
        routes: cost.routes,
        pods: cost.pods,
      };
    });
    const sharedDeployments = shared.filter((o) => o.kind === "Deployment");
    const result = {
      services,
      forks,
      upstreams: (base["forkstack:upstreams"] as unknown[]).length,
      loadMs: loadedAt,
      wallMs: t1 - t0,
      baseMs: perStack[0],
      forkMs: perStack.slice(1),
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
      perFork,
      namespaceCopy: {
        objects: shared.filter((o) => o.kind !== "Namespace").length,
        pods: sharedDeployments.reduce((n, d) => n + ((d.spec as { replicas?: number }).replicas ?? 1), 0),
      },
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${(err as Error).message.split("\n")[0]}\n`);
  process.exitCode = 1;
});
