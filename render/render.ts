/**
 * The offline render (DESIGN.md "Contracts", "Offline render"): evaluates the forkstack program for
 * each stack in order under the SDK's mocks (render/runtime.ts), against ONE simulated cluster, and
 * writes what the stacks would leave behind: `cluster.yaml`, `resources.json`, `outputs.json`.
 *
 * It holds no forkstack decisions: the program is index.ts, VirtualService updates go through the
 * same dynamic-resource handler (and so the same pure merge) as a live `pulumi up`. What lives here
 * is reading `Pulumi.<stack>.yaml` files, the order of stacks, and writing the result atomically.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { ConfigError, oneLine } from "../components/errors";
import { SimulatedCluster } from "./cluster";
import { DynamicHandler, kubeTypeOf, MASKED, runStack, StackResult } from "./runtime";

/** The files a render writes, and the only files `writeRender` will replace in an existing --out. */
export const RENDER_FILES = ["cluster.yaml", "resources.json", "outputs.json"] as const;

/**
 * The instant renders pretend to run at unless FORKSTACK_NOW says otherwise, so that two renders of
 * the same input are byte-identical and can be diffed (a fork's `expires-at` is the only
 * time-dependent value; a live `pulumi up` stamps the real time).
 */
export const RENDER_EPOCH = "2026-01-01T00:00:00Z";

const PROJECT = "forkstack";
/** Pulumi stack names: letters, digits, "-", "_" and "." (https://www.pulumi.com/docs/iac/concepts/stacks/). */
const STACK_NAME = /^[A-Za-z0-9_.-]+$/;

/**
 * An input mistake of the render itself or of one stack, already in its one-line form
 * (`stack <name>: <field>: <value> <problem>; <fix>`). The CLI prints it after `render: `.
 */
export class RenderError extends Error {
  /** @param stack the stack the mistake belongs to; its name is put in front once. */
  constructor(message: string, public readonly stackName?: string) {
    super(stackName === undefined || message.startsWith(`stack ${stackName}: `) ? message : `stack ${stackName}: ${message}`);
    this.name = "RenderError";
  }
}

/** One stack's config as read from `Pulumi.<stack>.yaml`. */
export interface StackConfig {
  stack: string;
  file: string;
  /** Full keys (`forkstack:domain`) to values as written in YAML (objects stay objects). */
  config: Record<string, unknown>;
  /** Keys whose values are encrypted (`secure:`): they cannot be decrypted offline and are left out. */
  skippedSecure: string[];
}

function isSecure(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(isSecure);
  if (value === null || typeof value !== "object") return false;
  const entries = Object.entries(value);
  if (entries.length === 1 && entries[0][0] === "secure") return true;
  return entries.some(([, v]) => isSecure(v));
}

/**
 * Reads `DIR/Pulumi.<stack>.yaml`. A key without a namespace belongs to the project, as the Pulumi
 * CLI reads it (https://www.pulumi.com/docs/iac/concepts/config/#configuration-keys). Encrypted
 * values are left out and reported in `skippedSecure`: their key belongs to the Pulumi service or a
 * passphrase the render does not have.
 */
export function loadStackConfig(configDir: string, stack: string): StackConfig {
  const file = path.join(configDir, `Pulumi.${stack}.yaml`);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new RenderError(
      new ConfigError("--stack", stack, `has no config file ${file}`, `write ${file}, or pass --config-dir with the folder that holds Pulumi.${stack}.yaml`).message,
    );
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new RenderError(new ConfigError(file, oneLine(err), "is not valid YAML", "fix the file (a top-level `config:` map of keys to values)").message, stack);
  }
  const raw = doc === null || doc === undefined ? {} : (doc as Record<string, unknown>).config;
  if (raw !== undefined && raw !== null && (typeof raw !== "object" || Array.isArray(raw))) {
    throw new RenderError(new ConfigError(`${file}: config`, raw, "is not a map", "write a top-level `config:` map of keys to values, e.g. `forkstack:domain: dev.example.com`").message, stack);
  }
  const config: Record<string, unknown> = {};
  const skippedSecure: string[] = [];
  for (const [k, v] of Object.entries((raw ?? {}) as Record<string, unknown>)) {
    const full = k.includes(":") ? k : `${PROJECT}:${k}`;
    if (isSecure(v)) skippedSecure.push(full);
    else config[full] = v;
  }
  return { stack, file, config, skippedSecure };
}

/** The stack a fork's `forkstack:baseStack` names: its last segment, as runtime.ts resolves it. */
export function referencedStack(config: Record<string, unknown>): string | undefined {
  const ref = config[`${PROJECT}:baseStack`];
  return typeof ref === "string" && ref !== "" ? ref.split("/").pop() : undefined;
}

export interface RenderOptions {
  /** Stack names, rendered in this order. */
  stacks: readonly string[];
  /** Where `Pulumi.<stack>.yaml` files live. */
  configDir: string;
  /** YAML files of objects the cluster already holds. */
  clusterFiles?: readonly string[];
  /**
   * The program and its wiring; default `realProgram()`: index.ts, with cluster access pointed at
   * the simulated cluster and dynamic resources answered by their real handlers. Tests pass small
   * programs of their own.
   */
  program?: ProgramWiring;
  /** ISO 8601 instant the program sees as "now"; default FORKSTACK_NOW, else RENDER_EPOCH. */
  now?: string;
  onProgress?: (stack: string, index: number, total: number) => void;
  onWarning?: (line: string) => void;
}

export interface RenderResult {
  cluster: SimulatedCluster;
  results: StackResult[];
  configs: StackConfig[];
}

/** Reads the seed files; a missing or malformed file is a one-line RenderError naming it. */
export function seedCluster(files: readonly string[]): SimulatedCluster {
  const cluster = new SimulatedCluster();
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      throw new RenderError(new ConfigError("--cluster", file, "cannot be read", "pass a YAML file of Kubernetes objects that exists").message);
    }
    try {
      cluster.seedYaml(text, file);
    } catch (err) {
      const detail = oneLine(err).replace(`${file}: `, "");
      throw new RenderError(new ConfigError("--cluster", file, `is not a YAML file of Kubernetes objects (${detail})`, "fix the file: documents separated by ---, each with apiVersion, kind and metadata.name").message);
    }
  }
  return cluster;
}

/** Checks everything that can be checked before any stack runs, so a bad command fails fast. */
export function loadInputs(opts: Pick<RenderOptions, "stacks" | "configDir">): StackConfig[] {
  if (opts.stacks.length === 0) throw new RenderError(new ConfigError("--stack", undefined, "is required", "name at least one stack, e.g. --stack dev").message);
  const seen = new Set<string>();
  const configs: StackConfig[] = [];
  for (const stack of opts.stacks) {
    if (!STACK_NAME.test(stack)) throw new RenderError(new ConfigError("--stack", stack, "is not a stack name", "use letters, digits, '-', '_' and '.', e.g. dev or pr-123").message);
    if (seen.has(stack)) throw new RenderError(new ConfigError("--stack", stack, "is given twice", "name each stack once").message);
    const config = loadStackConfig(opts.configDir, stack);
    const target = referencedStack(config.config);
    if (target !== undefined && !seen.has(target)) {
      const ref = config.config[`${PROJECT}:baseStack`];
      throw new RenderError(
        new ConfigError(`${PROJECT}:baseStack`, ref, `names stack "${target}", which is not rendered before "${stack}"`, `add --stack ${target} before --stack ${stack}`).message,
        stack,
      );
    }
    seen.add(stack);
    configs.push(config);
  }
  return configs;
}

/**
 * Renders the stacks in order against one simulated cluster. Rejects with a RenderError (one line)
 * on the first invalid input or failing stack; writes nothing (see `writeRender`).
 */
export async function renderStacks(opts: RenderOptions): Promise<RenderResult> {
  const configs = loadInputs(opts);
  // An empty FORKSTACK_NOW counts as unset, as index.ts reads it.
  const envNow = process.env.FORKSTACK_NOW === "" ? undefined : process.env.FORKSTACK_NOW;
  const now = opts.now ?? envNow ?? RENDER_EPOCH;
  if (Number.isNaN(Date.parse(now))) throw new RenderError(new ConfigError("--now", now, "is not an ISO 8601 instant", `use e.g. ${RENDER_EPOCH}`).message);
  const cluster = seedCluster(opts.clusterFiles ?? []);
  const { program, dynamicHandlers, prepare, cleanup } = opts.program ?? realProgram();

  const previousNow = process.env.FORKSTACK_NOW;
  process.env.FORKSTACK_NOW = now;
  const results: StackResult[] = [];
  const stackOutputs: Record<string, Record<string, unknown>> = {};
  try {
    for (const [i, { stack, config, skippedSecure }] of configs.entries()) {
      opts.onProgress?.(stack, i, configs.length);
      for (const key of skippedSecure) {
        opts.onWarning?.(`stack ${stack}: ${key} is encrypted and cannot be decrypted offline; rendering as if it were unset`);
      }
      prepare?.(cluster);
      let result: StackResult;
      try {
        result = await runStack({ project: PROJECT, stack, config, cluster, stackOutputs, program, dynamicHandlers });
      } catch (err) {
        // index.ts already prefixes its ConfigErrors with the stack; RenderError does it once.
        throw new RenderError(oneLine(err), stack);
      }
      results.push(result);
      stackOutputs[stack] = result.outputs;
    }
  } finally {
    cleanup?.();
    if (previousNow === undefined) delete process.env.FORKSTACK_NOW;
    else process.env.FORKSTACK_NOW = previousNow;
  }
  return { cluster, results, configs };
}

/** A program and what it needs from the render. */
export interface ProgramWiring {
  /** What index.ts exports. */
  program: () => unknown;
  /** Answers for dynamic resources, keyed by their `forkstackKind` input. */
  dynamicHandlers?: Readonly<Record<string, DynamicHandler>>;
  /** Called with the cluster before each stack runs (e.g. to point cluster access at it). */
  prepare?: (cluster: SimulatedCluster) => void;
  /** Called once after the last stack, whatever happened. */
  cleanup?: () => void;
}

/** The real program: index.ts, reaching the simulated cluster where a live run reaches the API server. */
export function realProgram(): ProgramWiring {
  // Loaded on first use: index.ts pulls in @pulumi/aws and every component, which renders of a
  // test program (and `--help`) do not need.
  const program: typeof import("../index") = require("../index");
  const access: typeof import("../components/kube/access") = require("../components/kube/access");
  const { simulatedAccess, forkRoutesHandler }: typeof import("./simulatedApi") = require("./simulatedApi");
  const { FORK_ROUTES_KIND }: typeof import("../components/fork/forkRoutes") = require("../components/fork/forkRoutes");
  return {
    program,
    // Dynamic providers never run under mocks; the handler runs the same route merge they would.
    dynamicHandlers: { [FORK_ROUTES_KIND]: forkRoutesHandler },
    // Where a live fork stack reaches the API server with its kubeconfig, the render hands it the
    // simulated cluster, so route updates run the same read-modify-write loop against it.
    prepare: (cluster) => access.setClusterAccessFactory(() => Promise.resolve(simulatedAccess(cluster))),
    cleanup: () => access.resetClusterAccessFactory(),
  };
}

// --- what is written ---------------------------------------------------------------------------

/** Outputs with secret ones replaced by "[secret]". */
export function maskedOutputs(result: StackResult): Record<string, unknown> {
  return Object.fromEntries(Object.entries(result.outputs).map(([k, v]) => [k, result.secretOutputs.includes(k) ? MASKED : v]));
}

/** The three files' contents, computed in full before anything touches the disk. */
export function renderFiles(render: Pick<RenderResult, "cluster" | "results">): Record<(typeof RENDER_FILES)[number], string> {
  const resources = render.results.flatMap((r) => r.resources.map(({ stack, type, name, inputs, read }) => ({ stack, type, name, read, inputs })));
  const outputs = Object.fromEntries(render.results.map((r) => [r.stack, maskedOutputs(r)]));
  return {
    "cluster.yaml": render.cluster.toYaml(),
    "resources.json": `${JSON.stringify(resources, null, 2)}\n`,
    "outputs.json": `${JSON.stringify(outputs, null, 2)}\n`,
  };
}

/**
 * Refuses an --out that holds anything but an earlier render's files, so a typo never overwrites
 * someone's folder. Call before rendering (fail fast) — writeRender checks again.
 */
export function checkOutDir(outDir: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(outDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw new RenderError(new ConfigError("--out", outDir, "is not a directory", "name a new or empty directory, or an earlier render's").message);
  }
  const foreign = entries.filter((e) => !(RENDER_FILES as readonly string[]).includes(e));
  if (foreign.length > 0) {
    throw new RenderError(new ConfigError("--out", outDir, `holds other files (${foreign.slice(0, 3).join(", ")})`, "name a new or empty directory, or an earlier render's").message);
  }
}

/** The folders `writeRender(outDir)` will create, outermost first (empty when `outDir` exists). */
export function missingDirs(outDir: string): string[] {
  const missing: string[] = [];
  for (let dir = path.normalize(outDir); !fs.existsSync(dir); dir = path.dirname(dir)) {
    missing.unshift(dir);
    if (path.dirname(dir) === dir) break;
  }
  return missing;
}

/**
 * Writes the render into `outDir` all at once: the files go to a fresh sibling directory that is
 * then renamed into place (rename is atomic within one filesystem), so a reader never sees half a
 * render and an earlier render is replaced only by a complete one.
 */
export function writeRender(outDir: string, render: Pick<RenderResult, "cluster" | "results">): void {
  checkOutDir(outDir);
  const files = renderFiles(render);
  const target = path.resolve(outDir);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const staging = fs.mkdtempSync(path.join(path.dirname(target), `.${path.basename(target)}.staging-`));
  try {
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(staging, name), content);
    if (fs.existsSync(target)) {
      const old = fs.mkdtempSync(path.join(path.dirname(target), `.${path.basename(target)}.old-`));
      fs.rmSync(old, { recursive: true });
      fs.renameSync(target, old);
      fs.renameSync(staging, target);
      fs.rmSync(old, { recursive: true, force: true });
    } else {
      fs.renameSync(staging, target);
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

// --- summary -----------------------------------------------------------------------------------

export interface StackSummary {
  stack: string;
  kind: "base" | "fork";
  /** Resources the stack registered (reads excluded). */
  resources: number;
  /** `.get` reads of existing objects. */
  reads: number;
  /** Kubernetes objects the stack created (`apiVersion kind namespace/name`). */
  objects: string[];
  outputs: Record<string, unknown>;
}

export interface RenderSummary {
  outDir?: string;
  stacks: StackSummary[];
  /** Objects in the cluster after every stack. */
  clusterObjects: number;
}

export function summarize(render: RenderResult, outDir?: string): RenderSummary {
  const stacks = render.results.map((r, i): StackSummary => {
    const created = r.resources.filter((res) => !res.read);
    const objects = created.flatMap((res) => {
      const kube = kubeTypeOf(res.type);
      if (!kube) return [];
      const meta = (res.plainInputs.metadata ?? {}) as { name?: string; namespace?: string };
      const kind = String(res.plainInputs.kind ?? kube.kind);
      return [`${kind} ${meta.namespace ? `${meta.namespace}/` : ""}${meta.name ?? res.name}`];
    });
    const config = render.configs[i]?.config ?? {};
    return {
      stack: r.stack,
      kind: config[`${PROJECT}:fork`] !== undefined ? "fork" : "base",
      resources: created.length,
      reads: r.resources.length - created.length,
      objects,
      outputs: maskedOutputs(r),
    };
  });
  return { outDir, stacks, clusterObjects: render.cluster.all().length };
}
