/**
 * The real ForkBackend: the Pulumi Automation API (https://www.pulumi.com/docs/iac/using-pulumi/automation-api/)
 * with this project as the local program (`workDir` = the project root, so `pulumi up` runs
 * index.ts exactly as a developer's would), on whatever backend the Pulumi CLI is logged in to.
 * And the live ClusterView: client-node with the caller's own kubeconfig.
 */
import * as path from "path";
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
import { loadClientNode } from "../../components/kube/clientNode";
import type { KubeObject } from "../../render/cluster";
import { ForkBackend, LastUpdate, StackInfo, StackLockedError, UpOutcome } from "./backend";
import { ClusterView, ForkctlDeps } from "./commands";

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
   * language host cannot be built (README "e2e tier"); `npx forkctl` never sets it.
   */
  readonly program?: PulumiFn;
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
    const s = await this.select(stack);
    if (s === undefined) return undefined;
    const out = await s.outputs();
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.secret ? "[secret]" : v.value]));
  }

  async lastUpdate(stack: string): Promise<LastUpdate | undefined> {
    const s = await this.select(stack);
    if (s === undefined) return undefined;
    const [last] = await s.history(1, 1);
    if (last === undefined) return undefined;
    return { kind: last.kind, result: last.result, config: plainConfig(last.config ?? {}) };
  }

  async up(stack: string, config: Readonly<Record<string, string>>, onOutput: (line: string) => void): Promise<UpOutcome> {
    try {
      const s = await this.open(stack, true);
      // The fork contract is exactly what forkctl writes: stale forkstack:* keys go.
      const current = await s.getAllConfig();
      for (const key of Object.keys(current)) if (key.startsWith("forkstack:") && !(key in config)) await s.removeConfig(key);
      await s.setAllConfig(Object.fromEntries(Object.entries(config).map(([k, value]) => [k, { value }])));
      const result = await s.up({ onOutput: lines(onOutput) });
      const changed = Object.entries(result.summary.resourceChanges ?? {}).some(([op, n]) => op !== "same" && (n ?? 0) > 0);
      return { changed, outputs: Object.fromEntries(Object.entries(result.outputs).map(([k, v]) => [k, v.secret ? "[secret]" : v.value])) };
    } catch (err) {
      if (err instanceof ConcurrentUpdateError) throw new StackLockedError(stack);
      throw err;
    }
  }

  async destroyAndRemove(stack: string, onOutput: (line: string) => void): Promise<boolean> {
    const s = await this.select(stack);
    if (s === undefined) return false;
    try {
      await s.destroy({ onOutput: lines(onOutput) });
      await s.workspace.removeStack(stack);
    } catch (err) {
      if (err instanceof ConcurrentUpdateError) throw new StackLockedError(stack);
      throw err;
    }
    return true;
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
