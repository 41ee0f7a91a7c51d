/**
 * The real Pulumi engine for the e2e tier: the CLI built from github.com/pulumi/pulumi/pkg/v3, the
 * Kubernetes provider built from pulumi-kubernetes/provider/v4, the dynamic-provider plugin of the
 * sdk/v3 module, a `file://` backend and a passphrase, no network.
 *
 * Programs run inline through the Automation API
 * (https://www.pulumi.com/docs/iac/packages-and-automation/automation-api/): the SDK serves the
 * language runtime from this process and the CLI connects to it (`--client`), because the Node.js
 * language host (module sdk/nodejs/cmd/pulumi-language-nodejs/v3) is not served by the Go module
 * proxy here. The program functions are the real ones (index.ts for forks).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { parse, stringify } from "yaml";
import { ROOT } from "./fixtures";
import { E2eState } from "./state";

/**
 * Two annotations the e2e adds to the Kubernetes objects it deploys, because the e2e cluster runs
 * kube-apiserver alone (no kube-controller-manager, scheduler or kubelet: no pods, no garbage
 * collector). Both are the provider's documented per-object switches
 * (https://www.pulumi.com/registry/packages/kubernetes/installation-configuration/):
 *
 * - `pulumi.com/skipAwait` on Deployments and ClusterIP Services: the provider would wait for a
 *   rollout and for endpoints that never come, 10 minutes each. The gateway's LoadBalancer Service
 *   is awaited for real (harness/loadBalancer.ts answers for the cloud).
 * - `pulumi.com/deletionPropagationPolicy: background`: the provider deletes with Foreground
 *   propagation by default, which puts the `foregroundDeletion` finalizer on the object; only the
 *   garbage collector removes it, so every delete would hang.
 *
 * compare.ts removes both before it compares the cluster with the render.
 */
export const SKIP_AWAIT = "pulumi.com/skipAwait";
export const DELETION_PROPAGATION = "pulumi.com/deletionPropagationPolicy";
export const E2E_ANNOTATIONS = [SKIP_AWAIT, DELETION_PROPAGATION];
const AWAITED = new Set(["kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service"]);

function e2eAnnotations(args: pulumi.ResourceTransformArgs): pulumi.ResourceTransformResult | undefined {
  if (!args.custom || !args.type.startsWith("kubernetes:")) return undefined;
  const props = { ...args.props } as Record<string, any>;
  const metadata = { ...(props.metadata ?? {}) };
  const annotations: Record<string, string> = { ...(metadata.annotations ?? {}), [DELETION_PROPAGATION]: "background" };
  if (AWAITED.has(args.type) && props.spec?.type !== "LoadBalancer") annotations[SKIP_AWAIT] = "true";
  metadata.annotations = annotations;
  props.metadata = metadata;
  return { props, opts: args.opts };
}

/** `program` with the e2e's two annotations (above) on every Kubernetes object it declares. */
export function e2eProgram(program: () => Promise<Record<string, unknown>>): () => Promise<Record<string, unknown>> {
  return async () => {
    pulumi.runtime.registerResourceTransform(e2eAnnotations);
    return program();
  };
}

export interface Engine {
  workDir: string;
  env: Record<string, string>;
  /** `env` is added to the CLI's (and so the plugins') environment for this stack. */
  stack(name: string, program: () => Promise<Record<string, unknown>>, env?: Record<string, string>): Promise<Stack>;
  version: string;
}

/**
 * A project folder with Pulumi.yaml (the real one) and the given stack config files, a fresh
 * PULUMI_HOME and file backend, and the CLI from the build cache.
 */
export async function engine(state: E2eState, configs: Record<string, string>): Promise<Engine> {
  if (!state.pulumiBinDir || !state.kubernetesProviderBinDir) throw new Error("the Pulumi CLI or the Kubernetes provider was not built (see e2e/build.sh output)");
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "forkstack-e2e-pulumi-"));
  // The real project file, less `main`: the program is inline, and the CLI checks that main exists.
  const project = parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
  delete project.main;
  fs.writeFileSync(path.join(workDir, "Pulumi.yaml"), stringify(project));
  for (const [stack, text] of Object.entries(configs)) fs.writeFileSync(path.join(workDir, `Pulumi.${stack}.yaml`), text);
  // The dynamic-provider plugin starts `node` in this folder and resolves @pulumi/pulumi (and, from
  // the provider's code, @kubernetes/client-node) from here.
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(workDir, "node_modules"), "dir");
  fs.mkdirSync(path.join(workDir, "state"));
  fs.mkdirSync(path.join(workDir, "home"));
  const env: Record<string, string> = {
    // Plugins come from PATH only (the engine prefers an ambient plugin on PATH), never downloaded.
    PATH: [path.join(state.pulumiBinDir, "bin"), state.kubernetesProviderBinDir, path.dirname(process.execPath), process.env.PATH ?? ""].join(path.delimiter),
    PULUMI_HOME: path.join(workDir, "home"),
    PULUMI_BACKEND_URL: `file://${path.join(workDir, "state")}`,
    PULUMI_CONFIG_PASSPHRASE: crypto.randomBytes(18).toString("base64url"),
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    PULUMI_DIY_BACKEND_NO_LEGACY_WARNING: "true",
    FORKSTACK_NOW: "2026-01-01T00:00:00Z",
  };
  // The dynamic provider (ForkRoutes) runs in a `node` the engine starts from PATH; the program's
  // FORKSTACK_NOW pins the expiry as the render's does.
  Object.assign(process.env, { PATH: env.PATH, FORKSTACK_NOW: env.FORKSTACK_NOW });
  const pulumiCommand = await PulumiCommand.get({ root: state.pulumiBinDir, skipVersionCheck: true });
  const version = execFileSync(pulumiCommand.command, ["version"], { encoding: "utf8", timeout: 60_000, env: { ...process.env, ...env } }).trim();
  return {
    workDir,
    env,
    version,
    async stack(name, program, extraEnv = {}) {
      return LocalWorkspace.createOrSelectStack(
        {
          stackName: name,
          projectName: "forkstack",
          program: e2eProgram(program),
        },
        { workDir, envVars: { ...env, ...extraEnv }, pulumiCommand, secretsProvider: "passphrase" },
      );
    },
  };
}

/**
 * The change counts of an update or preview, without `same` and `read`: a fork reads the shared
 * Service and Deployment it copies (`.get`) on every run, which changes nothing.
 */
export function changes(summary: Record<string, number> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(summary ?? {})) if (k !== "same" && k !== "read" && v > 0) out[k] = v;
  return out;
}
