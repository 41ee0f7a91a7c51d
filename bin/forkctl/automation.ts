/**
 * The real ForkBackend: the Pulumi Automation API (https://www.pulumi.com/docs/iac/using-pulumi/automation-api/)
 * with this project as the local program (`workDir` = the project root, so `pulumi up` runs
 * index.ts exactly as a developer's would), on whatever backend the Pulumi CLI is logged in to.
 * And the live ClusterView: client-node with the caller's own kubeconfig.
 */
import { execFile as execFileCb } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import * as YAML from "yaml";
import {
  ConcurrentUpdateError,
  ConfigMap,
  LocalWorkspace,
  LocalWorkspaceOptions,
  PulumiCommand,
  PulumiFn,
  Stack,
  StackNotFoundError,
} from "@pulumi/pulumi/automation";
import { oneLine } from "../../components/errors";
import { sweepGoneForks } from "../../components/fork/routeSync";
import { clientNodeAccess, loadClientNode } from "../../components/kube/clientNode";
import type { KubeObject } from "../../render/cluster";
import { ForkBackend, LastUpdate, lockHolders, StackInfo, StackLockedError, UpOutcome } from "./backend";
import { ClusterView, ForkctlDeps } from "./commands";

const execFile = promisify(execFileCb);

export const PROJECT_ROOT = path.join(__dirname, "..", "..");
/** Pulumi.yaml's `name`. */
const PROJECT_NAME = "forkstack";

export interface AutomationOptions {
  /** The Pulumi project folder. @default the forkstack checkout this file is in */
  readonly workDir?: string;
  /** A folder whose `bin/pulumi` to run instead of the `pulumi` on PATH. */
  readonly pulumiRoot?: string;
  /** Extra environment for the CLI. */
  readonly envVars?: Record<string, string>;
  /**
   * Run this function as the program, in this process (an Automation API inline program), instead
   * of `workDir`'s Pulumi.yaml `main` through the Node.js language host. For the e2e tier, where the
   * language host cannot be built (docs/e2e.md); `npx forkctl` never sets it.
   */
  readonly program?: PulumiFn;
  /** How long `pulumi stack output` may take (a remote backend's read; the CLI has no timeout of its own). @default 120 s */
  readonly outputsTimeoutMs?: number;
}

/** Splits streamed engine output into lines. */
function lines(onOutput: (line: string) => void): (chunk: string) => void {
  let pending = "";
  return (chunk) => {
    pending += chunk;
    const parts = pending.split("\n");
    pending = parts.pop() ?? "";
    for (const part of parts) if (part.trim() !== "") onOutput(part.trimEnd());
  };
}

function plainConfig(config: ConfigMap): Record<string, string> {
  // Secret values are left out: forkctl writes none, and must never print one.
  return Object.fromEntries(Object.entries(config).filter(([, v]) => !v.secret).map(([k, v]) => [k, v.value]));
}

/** Keys of a stack config file that belong to the project's own namespace (`forkstack:x`, or `x` alone). */
const ownKey = (key: string) => key.startsWith(`${PROJECT_NAME}:`) || !key.includes(":");

/**
 * forkctl never leaves, rewrites or deletes a file in the project folder. The Pulumi CLI writes the
 * stack's config file `Pulumi.<stack>.yaml` there on its own: `stack init` (a passphrase's
 * `encryptionsalt`), `stack output --show-secrets` (the same), `stack rm` (deletes it). This runs
 * `fn` and then puts that file back as it was: removed when it was not there, its bytes restored
 * when they changed.
 */
async function keepingConfigFile<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const before = fs.existsSync(file) ? fs.readFileSync(file) : undefined;
  try {
    return await fn();
  } finally {
    const after = fs.existsSync(file) ? fs.readFileSync(file) : undefined;
    if (before === undefined && after !== undefined) fs.rmSync(file, { force: true });
    else if (before !== undefined && (after === undefined || !before.equals(after))) fs.writeFileSync(file, before);
  }
}

export class AutomationBackend implements ForkBackend {
  private readonly workDir: string;
  private options?: Promise<LocalWorkspaceOptions>;

  constructor(private readonly opts: AutomationOptions = {}) {
    this.workDir = opts.workDir ?? PROJECT_ROOT;
  }

  private workspaceOptions(): Promise<LocalWorkspaceOptions> {
    this.options ??= (async () => {
      const pulumiCommand = this.opts.pulumiRoot ? await PulumiCommand.get({ root: this.opts.pulumiRoot, skipVersionCheck: true }) : undefined;
      return { workDir: this.workDir, ...(pulumiCommand ? { pulumiCommand } : {}), ...(this.opts.envVars ? { envVars: this.opts.envVars } : {}) };
    })();
    return this.options;
  }

  /** The checkout's config file of a stack (`organization/forkstack/dev` → Pulumi.dev.yaml). */
  private configFile(stack: string): string {
    return path.join(this.workDir, `Pulumi.${stack.split("/").pop()}.yaml`);
  }

  /** Runs `fn` with the project folder's Pulumi.<stack>.yaml kept as it was. */
  private guarded<T>(stack: string, fn: () => Promise<T>): Promise<T> {
    return keepingConfigFile(this.configFile(stack), fn);
  }

  /** Selects (or with `create`, creates when missing) a stack of the local program in workDir, or of the inline one. */
  private async open(stack: string, create: boolean): Promise<Stack> {
    const opts = await this.workspaceOptions();
    const program = this.opts.program;
    if (program) {
      const args = { stackName: stack, projectName: PROJECT_NAME, program };
      return create ? LocalWorkspace.createOrSelectStack(args, opts) : LocalWorkspace.selectStack(args, opts);
    }
    const args = { stackName: stack, workDir: this.workDir };
    return create ? LocalWorkspace.createOrSelectStack(args, opts) : LocalWorkspace.selectStack(args, opts);
  }

  private async select(stack: string): Promise<Stack | undefined> {
    try {
      return await this.open(stack, false);
    } catch (err) {
      if (err instanceof StackNotFoundError) return undefined;
      throw err;
    }
  }

  /**
   * A config file for one operation, in a temporary folder, never the checkout's: the checkout's
   * Pulumi.<stack>.yaml when there is one (its secrets provider, salt and other keys), with the
   * project's own keys replaced by `config` when given. Removed after `fn`.
   */
  private async withConfigFile<T>(stack: string, config: Readonly<Record<string, string>> | undefined, fn: (file: string) => Promise<T>): Promise<T> {
    const checkout = this.configFile(stack);
    const doc: Record<string, unknown> = fs.existsSync(checkout) ? ((YAML.parse(fs.readFileSync(checkout, "utf8")) as Record<string, unknown> | null) ?? {}) : {};
    if (config !== undefined) {
      const kept = Object.entries((doc.config ?? {}) as Record<string, unknown>).filter(([k]) => !ownKey(k));
      doc.config = { ...Object.fromEntries(kept), ...config };
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "forkctl-config-"));
    const file = path.join(dir, path.basename(checkout));
    try {
      fs.writeFileSync(file, YAML.stringify(doc));
      return await fn(file);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  async listStacks(): Promise<StackInfo[]> {
    const ws = await LocalWorkspace.create(await this.workspaceOptions());
    return (await ws.listStacks()).map((s) => ({
      name: s.name,
      updateInProgress: s.updateInProgress === true,
      ...(s.lastUpdate ? { lastUpdate: s.lastUpdate } : {}),
      ...(s.resourceCount !== undefined ? { resourceCount: s.resourceCount } : {}),
    }));
  }

  async outputs(stack: string): Promise<Record<string, unknown> | undefined> {
    return this.guarded(stack, async () => {
      const s = await this.select(stack);
      if (s === undefined) return undefined;
      // Without --show-secrets: secret values come back masked, and no secrets manager (a
      // passphrase, a KMS key) is needed to read a stack's outputs.
      const ws = s.workspace as LocalWorkspace;
      const env = { ...process.env, ...ws.envVars, ...(ws.pulumiHome ? { PULUMI_HOME: ws.pulumiHome } : {}) };
      const args = ["stack", "output", "--json", "--stack", stack, "--non-interactive"];
      const timeout = this.opts.outputsTimeoutMs ?? 120_000;
      const { stdout } = await execFile(ws.pulumiCommand.command, args, { cwd: ws.workDir, env, maxBuffer: 64 * 1024 * 1024, timeout }).catch((err: Error & { killed?: boolean }) => {
        if (err.killed) throw new Error(`pulumi stack output --stack ${stack}: no answer from the backend in ${timeout / 1000} s; check the backend (pulumi whoami -v) and try again`);
        throw err;
      });
      return JSON.parse(stdout.trim() || "{}") as Record<string, unknown>;
    });
  }

  async lastUpdate(stack: string): Promise<LastUpdate | undefined> {
    return this.guarded(stack, async () => {
      const s = await this.select(stack);
      if (s === undefined) return undefined;
      const history = await s.history(10, 1, false);
      const [last] = history;
      if (last === undefined) return undefined;
      const update = history.find((h) => h.kind === "update") ?? last;
      return { kind: last.kind, result: last.result, config: plainConfig(update.config ?? {}) };
    });
  }

  async tags(stack: string): Promise<Record<string, string> | undefined> {
    return this.guarded(stack, async () => {
      const s = await this.select(stack);
      return s === undefined ? undefined : { ...(await s.listTags()) };
    });
  }

  async setTags(stack: string, tags: Readonly<Record<string, string | null>>): Promise<void> {
    await this.guarded(stack, async () => {
      const s = await this.open(stack, false);
      await this.applyTags(s, tags);
    });
  }

  private async applyTags(s: Stack, tags: Readonly<Record<string, string | null>>): Promise<void> {
    const current = await s.listTags();
    for (const [key, value] of Object.entries(tags)) {
      if (value === null) {
        if (key in current) await s.removeTag(key);
      } else if (current[key] !== value) {
        await s.setTag(key, value);
      }
    }
  }

  async up(stack: string, config: Readonly<Record<string, string>>, tags: Readonly<Record<string, string | null>>, onOutput: (line: string) => void): Promise<UpOutcome> {
    return this.guarded(stack, async () => {
      try {
        const s = await this.open(stack, true);
        // Tagged before the first update runs: a fork whose update fails is still a fork.
        await this.applyTags(s, tags);
        // The fork contract is exactly what forkctl writes (stale forkstack:* keys go), in a config
        // file of its own: a checkout's Pulumi.<stack>.yaml is read, never written.
        const result = await this.withConfigFile(stack, config, (configFile) => s.up({ onOutput: lines(onOutput), configFile }));
        const changed = Object.entries(result.summary.resourceChanges ?? {}).some(([op, n]) => op !== "same" && (n ?? 0) > 0);
        return { changed, outputs: Object.fromEntries(Object.entries(result.outputs).map(([k, v]) => [k, v.secret ? "[secret]" : v.value])) };
      } catch (err) {
        if (err instanceof ConcurrentUpdateError) throw new StackLockedError(stack, lockHolders(err.message));
        throw err;
      }
    });
  }

  async cancel(stack: string): Promise<void> {
    await this.guarded(stack, async () => {
      const s = await this.select(stack);
      if (s !== undefined) await s.cancel();
    });
  }

  async destroyAndRemove(stack: string, onOutput: (line: string) => void): Promise<boolean> {
    return this.guarded(stack, async () => {
      const s = await this.select(stack);
      if (s === undefined) return false;
      try {
        await this.withConfigFile(stack, undefined, (configFile) => s.destroy({ onOutput: lines(onOutput), configFile }));
        await s.workspace.removeStack(stack, { preserveConfig: true });
      } catch (err) {
        if (err instanceof ConcurrentUpdateError) throw new StackLockedError(stack, lockHolders(err.message));
        throw err;
      }
      return true;
    });
  }
}

// --- the live cluster ------------------------------------------------------------------------------

const TIMEOUT_MS = 15_000;
const ATTEMPTS = 3;

/** One API call with a timeout and a bounded, jittered retry (network errors and 429/5xx). */
async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await Promise.race([
        fn(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer in ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS).unref()),
      ]);
    } catch (err) {
      const status = (err as { code?: unknown }).code;
      const retriable = typeof status !== "number" || status === 429 || status >= 500;
      if (!retriable || attempt >= ATTEMPTS) throw new Error(`${what}: ${oneLine(err)}`);
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt * (0.5 + Math.random())));
    }
  }
}

/** Reads the caller's kubeconfig ($KUBECONFIG or ~/.kube/config), in the base stack's context when it names one. */
export function liveClusterView(context?: string): ClusterView {
  return {
    async snapshot(namespaces, gatewayNamespace) {
      const k8s = await loadClientNode();
      const kc = new k8s.KubeConfig();
      kc.loadFromDefault();
      if (context) kc.setCurrentContext(context);
      const apps = kc.makeApiClient(k8s.AppsV1Api);
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const custom = kc.makeApiClient(k8s.CustomObjectsApi);
      const typed = (apiVersion: string, kind: string, items: unknown[]) => items.map((i) => ({ apiVersion, kind, ...(i as object) }) as KubeObject);
      const out: KubeObject[] = [];
      for (const namespace of namespaces) {
        out.push(...typed("apps/v1", "Deployment", (await call(`list Deployments in ${namespace}`, () => apps.listNamespacedDeployment({ namespace }))).items));
        out.push(...typed("v1", "Service", (await call(`list Services in ${namespace}`, () => core.listNamespacedService({ namespace }))).items));
        const vs = (await call(`list VirtualServices in ${namespace}`, () =>
          custom.listNamespacedCustomObject({ group: "networking.istio.io", version: "v1", namespace, plural: "virtualservices" }),
        )) as { items?: unknown[] };
        out.push(...typed("networking.istio.io/v1", "VirtualService", vs.items ?? []));
      }
      const mappings = (await call(`list Mappings in ${gatewayNamespace}`, () =>
        custom.listNamespacedCustomObject({ group: "getambassador.io", version: "v3alpha1", namespace: gatewayNamespace, plural: "mappings" }),
      )) as { items?: unknown[] };
      out.push(...typed("getambassador.io/v3alpha1", "Mapping", mappings.items ?? []));
      return out;
    },
    async sweepGoneForks(headerName, gone, dryRun) {
      // forkstack's own client: every call bounded and retried as a fork stack's are (kube/clientNode.ts).
      const access = await clientNodeAccess("", context);
      return sweepGoneForks(access.virtualServices, headerName, gone, { dryRun });
    },
  };
}

/** forkctl's dependencies for a real run. */
export function automationDeps(opts: { cluster: boolean; progress: (line: string) => void }, backendOptions: AutomationOptions = {}): ForkctlDeps {
  const backend = new AutomationBackend(backendOptions);
  return {
    backend,
    now: () => new Date(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    progress: opts.progress,
    ...(opts.cluster ? { cluster: liveClusterView(process.env.FORKSTACK_KUBE_CONTEXT || undefined) } : {}),
  };
}
