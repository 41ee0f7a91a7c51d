/**
 * Runs the real forkstack program in-process under the Pulumi SDK's mocks
 * (https://www.pulumi.com/docs/iac/guides/testing/unit/), against a SimulatedCluster:
 *
 * - Kubernetes resources a stack declares are written into the cluster (as the provider would);
 * - `.get` reads are answered from the cluster, and a missing object fails the read;
 * - StackReferences are answered by the outputs of stacks run earlier;
 * - dynamic resources are answered by handlers keyed by their `forkstackKind` input, so the
 *   render applies the same pure merge the live provider runs;
 * - AWS resources and invokes get plausible fake outputs (ids, ARNs, zones).
 *
 * Used by the tests and by the offline render; it holds no forkstack decisions of its own.
 */
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { KubeObject, SimulatedCluster } from "./cluster";

export const MASKED = "[secret]";

/** A resource a stack registered, as recorded for resources.json and for tests. */
export interface RecordedResource {
  stack: string;
  type: string;
  name: string;
  /** Inputs with secret values replaced by "[secret]". */
  inputs: Record<string, unknown>;
  /** Inputs with secrets unwrapped (not written anywhere; for tests). */
  plainInputs: Record<string, unknown>;
  /** True for `.get` reads (not created, never deleted). */
  read: boolean;
  id?: string;
}

/** Answers a dynamic resource: gets its plain inputs and the cluster, returns its output state. */
export type DynamicHandler = (inputs: Record<string, any>, cluster: SimulatedCluster) => Record<string, unknown> | Promise<Record<string, unknown>>;

export interface RunStackOptions {
  /** The Pulumi project name (Pulumi.yaml's `name`). */
  project?: string;
  stack: string;
  /** Full config keys (`forkstack:domain`) to values; objects are passed as JSON. */
  config: Record<string, unknown>;
  /** Config keys whose values are secrets. */
  secretKeys?: readonly string[];
  cluster: SimulatedCluster;
  /** Outputs of earlier stacks, keyed by stack name (the last segment of a StackReference name). */
  stackOutputs?: Readonly<Record<string, Record<string, unknown>>>;
  /** The program: what `index.ts` exports. */
  program: () => unknown;
  dynamicHandlers?: Readonly<Record<string, DynamicHandler>>;
}

export interface StackResult {
  stack: string;
  resources: RecordedResource[];
  /** Plain output values; secret ones are listed in `secretOutputs`. */
  outputs: Record<string, unknown>;
  secretOutputs: string[];
  /** The token of every provider function the stack invoked, in order (e.g. `aws:route53/getZone:getZone`). */
  invokes: string[];
}

/** A value the SDK's mocks pass as a secret: `{ [specialSigKey]: specialSecretSig, value }`. */
export function isSecretValue(v: unknown): v is { value: unknown } {
  return typeof v === "object" && v !== null && (v as any)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;
}

/** Replaces secret-wrapped values: `mask` for the recorded inputs, their value for the cluster. */
export function mapSecrets(value: unknown, mask: boolean): unknown {
  if (isSecretValue(value)) return mask ? MASKED : mapSecrets(value.value, mask);
  if (Array.isArray(value)) return value.map((v) => mapSecrets(v, mask));
  if (value !== null && typeof value === "object" && !(value instanceof pulumi.asset.Asset) && !(value instanceof pulumi.asset.Archive)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapSecrets(v, mask)]));
  }
  return value;
}

/** A thenable check: under Jest, promises of async functions are not `instanceof` the global Promise. */
function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

function fakeId(...parts: string[]): string {
  return createHash("sha256").update(parts.join("/")).digest("hex").slice(0, 8);
}

/** `kubernetes:apps/v1:Deployment` → ["apps/v1", "Deployment"]; `kubernetes:core/v1:Service` → ["v1", "Service"]. */
export function kubeTypeOf(type: string): { apiVersion: string; kind: string } | undefined {
  const m = /^kubernetes:([^:]+):([^:]+)$/.exec(type);
  if (!m || m[1].startsWith("helm.sh") || m[1].startsWith("yaml") || m[1] === "kustomize") return undefined;
  const apiVersion = m[1].startsWith("core/") ? m[1].slice("core/".length) : m[1];
  return { apiVersion, kind: m[2] };
}

/** Fake outputs of AWS resources, as the cloud would fill them in. */
function awsState(type: string, name: string, inputs: Record<string, any>): Record<string, unknown> {
  const id = `${name}-${fakeId(type, name)}`;
  const arn = `arn:aws:mock:eu-west-1:123456789012:${type.split(":").pop()}/${id}`;
  const extra: Record<string, unknown> = {};
  if (type === "aws:eks/cluster:Cluster") {
    extra.endpoint = `https://${fakeId(name).toUpperCase()}.gr7.eu-west-1.eks.amazonaws.com`;
    extra.certificateAuthority = { data: Buffer.from("mock-ca").toString("base64") };
    extra.identities = [{ oidcs: [{ issuer: `https://oidc.eks.eu-west-1.amazonaws.com/id/${fakeId(name, "oidc").toUpperCase()}` }] }];
  }
  if (type === "aws:acm/certificate:Certificate") {
    const names: string[] = [inputs.domainName, ...(inputs.subjectAlternativeNames ?? [])].filter((n, i, all) => n && all.indexOf(n) === i);
    // As ACM does: `*.x` and `x` are validated by the same record.
    extra.domainValidationOptions = names.map((domainName) => {
      const base = domainName.replace(/^\*\./, "");
      return { domainName, resourceRecordName: `_${fakeId(base)}.${base}.`, resourceRecordType: "CNAME", resourceRecordValue: `_${fakeId(base, "v")}.acm-validations.aws.` };
    });
  }
  if (type === "aws:ec2/vpc:Vpc") extra.defaultSecurityGroupId = `sg-${fakeId(name)}`;
  if (type === "aws:route53/record:Record") extra.fqdn = String(inputs.name ?? "").replace(/\.$/, "");
  // Providers auto-name resources without a name (the logical name plus a random suffix).
  const autoName = inputs.name === undefined && /^aws:(eks|iam)\//.test(type) ? { name: id } : {};
  return { ...inputs, id, arn, ...autoName, ...extra };
}

function awsCall(token: string, inputs: Record<string, any>): Record<string, unknown> {
  switch (token) {
    case "aws:index/getAvailabilityZones:getAvailabilityZones":
      return { names: ["eu-west-1a", "eu-west-1b", "eu-west-1c"], zoneIds: ["euw1-az1", "euw1-az2", "euw1-az3"] };
    case "aws:route53/getZone:getZone":
      return { ...inputs, zoneId: `Z${fakeId(String(inputs.name)).toUpperCase()}`, id: `Z${fakeId(String(inputs.name)).toUpperCase()}` };
    case "aws:index/getRegion:getRegion":
      return { name: "eu-west-1", region: "eu-west-1" };
    case "aws:index/getCallerIdentity:getCallerIdentity":
      return { accountId: "123456789012", arn: "arn:aws:iam::123456789012:user/mock", userId: "mock" };
    case "aws:iam/getPolicyDocument:getPolicyDocument":
      return { json: JSON.stringify({ Version: "2012-10-17", Statement: inputs.statements ?? [] }) };
    default:
      return inputs;
  }
}

/** A Kubernetes object as the API server stores it after a create (name and namespace filled in). */
function toKubeObject(apiVersion: string, kind: string, name: string, stack: string, inputs: Record<string, any>): KubeObject {
  const metadata = { ...(inputs.metadata ?? {}) };
  // Pulumi auto-names objects without metadata.name as <logical name>-<random suffix>.
  metadata.name = metadata.name ?? `${name}-${fakeId(stack, name)}`;
  const obj: KubeObject = { ...inputs, apiVersion: inputs.apiVersion ?? apiVersion, kind: inputs.kind ?? kind, metadata };
  if (kind === "Service" && (obj.spec as any)?.type === "LoadBalancer") {
    obj.status = { loadBalancer: { ingress: [{ hostname: `${metadata.name}-${fakeId(stack, name)}.elb.eu-west-1.amazonaws.com` }] } };
  }
  return obj;
}

let running: Promise<unknown> = Promise.resolve();

/**
 * Evaluates one stack of the program under mocks. Stacks run one at a time (the SDK's runtime
 * state is process-wide). Rejects with the first error the program or a resource raised.
 */
export function runStack(options: RunStackOptions): Promise<StackResult> {
  const next = running.then(() => withPlainStackTraces(() => runStackNow(options)));
  running = next.catch(() => undefined);
  return next;
}

/**
 * Runs `fn` with V8's own stack formatting instead of the one ts-node installs (source-map-support's
 * `Error.prepareStackTrace`). The SDK takes a stack trace for every promise it tracks
 * (runtime/debuggable.js `debuggablePromise`, for its leak report) and an unlimited one for every
 * resource (`Resource.stackTrace`, its source position), and source-map-support maps every frame of
 * each: half of a fork's render time (`npm run bench`, N = 140, D = 50: 113 ms a fork with it,
 * 52 ms without). The render shows no stack traces (its errors are one line), and
 * `NODE_OPTIONS=--enable-source-maps` still gets TypeScript positions from Node itself.
 * Stacks run one at a time (runStack), so saving and restoring it cannot interleave.
 */
async function withPlainStackTraces<T>(fn: () => Promise<T>): Promise<T> {
  const error = Error as { prepareStackTrace?: unknown };
  const saved = error.prepareStackTrace;
  error.prepareStackTrace = undefined;
  try {
    return await fn();
  } finally {
    error.prepareStackTrace = saved;
  }
}

async function runStackNow(options: RunStackOptions): Promise<StackResult> {
  const { stack, cluster } = options;
  const resources: RecordedResource[] = [];
  const invokes: string[] = [];
  const errors: unknown[] = [];

  const mocks: pulumi.runtime.Mocks = {
    newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult | Promise<pulumi.runtime.MockResourceResult> {
      const inputs = args.inputs as Record<string, any>;
      const plain = mapSecrets(inputs, false) as Record<string, any>;
      const read = args.id !== undefined && args.id !== "";
      resources.push({ stack, type: args.type, name: args.name, inputs: mapSecrets(inputs, true) as Record<string, unknown>, plainInputs: plain, read, id: args.id });
      try {
        const result = answer(args, plain, read);
        // Dynamic handlers may be async (they run the live read-modify-write over the simulated cluster).
        return isPromise(result)
          ? result.catch((err: unknown) => {
              errors.push(err);
              throw err;
            })
          : result;
      } catch (err) {
        errors.push(err);
        throw err;
      }
    },
    call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
      invokes.push(args.token);
      if (args.token.startsWith("aws:")) return awsCall(args.token, args.inputs);
      return args.inputs;
    },
  };

  function answer(args: pulumi.runtime.MockResourceArgs, plain: Record<string, any>, read: boolean): pulumi.runtime.MockResourceResult | Promise<pulumi.runtime.MockResourceResult> {
    if (args.type === "pulumi:pulumi:StackReference") {
      const ref = String(plain.name ?? args.name);
      const target = ref.split("/").pop()!;
      const outputs = options.stackOutputs?.[target];
      if (outputs === undefined) {
        throw new Error(`stack reference ${ref}: no stack "${target}" was rendered before this one; render the base stack first (--stack ${target})`);
      }
      return { id: ref, state: { name: ref, outputs, secretOutputNames: Object.keys(outputs).filter((k) => /kubeconfig/i.test(k)) } };
    }
    if (args.type.startsWith("pulumi:providers:")) return { id: `${args.name}-provider`, state: plain };
    if (args.type === "pulumi-nodejs:dynamic:Resource") {
      const kind = plain.forkstackKind;
      const handler = typeof kind === "string" ? options.dynamicHandlers?.[kind] : undefined;
      const id = `${args.name}-${fakeId(stack, args.name)}`;
      if (!handler) return { id, state: plain };
      const state = handler(plain, cluster);
      return isPromise(state) ? state.then((s) => ({ id, state: { ...plain, ...s } })) : { id, state: { ...plain, ...state } };
    }
    const kube = kubeTypeOf(args.type);
    if (kube) {
      const apiVersion = plain.apiVersion ?? kube.apiVersion;
      const kind = plain.kind ?? kube.kind;
      if (read) {
        const [ns, name] = args.id!.includes("/") ? args.id!.split("/") : ["default", args.id!];
        const live = cluster.get(apiVersion, kind, ns, name);
        if (live === undefined) {
          // Recorded rather than thrown: a failed read rejects every output of the resource, and
          // those rejections would surface unhandled. runStack reports the first recorded error.
          errors.push(new Error(`${kind} ${ns}/${name} does not exist in the cluster`));
          return { id: args.id, state: {} };
        }
        return { id: args.id, state: live };
      }
      const stored = cluster.put(toKubeObject(apiVersion, kind, args.name, stack, plain));
      return { id: `${stored.metadata.namespace ? `${stored.metadata.namespace}/` : ""}${stored.metadata.name}`, state: stored };
    }
    if (args.type.startsWith("kubernetes:helm.sh/")) {
      return { id: `${plain.namespace ?? "default"}/${plain.name ?? args.name}`, state: { ...plain, status: { status: "deployed", name: plain.name ?? args.name, namespace: plain.namespace ?? "default", version: plain.version } } };
    }
    if (args.type.startsWith("aws:")) {
      const state = awsState(args.type, args.name, plain);
      return { id: String(state.id), state };
    }
    return { id: args.custom ? `${args.name}-${fakeId(stack, args.name)}` : undefined as any, state: plain };
  }

  const onRejection = (reason: unknown) => errors.push(reason);
  process.on("unhandledRejection", onRejection);
  try {
    await pulumi.runtime.setMocks(mocks, options.project ?? "forkstack", stack, false);
    const config: Record<string, string> = {};
    for (const [k, v] of Object.entries(options.config)) config[k] = typeof v === "string" ? v : JSON.stringify(v);
    pulumi.runtime.setAllConfig(config, [...(options.secretKeys ?? [])]);

    const exported = await options.program();
    const { outputs, secretOutputs } = await resolveOutputs(exported);
    await (pulumi.runtime as any).waitForRPCs();
    // Let rejections raised while draining reach the handler above.
    await new Promise((resolve) => setImmediate(resolve));
    if (errors.length > 0) throw errors[0];
    return { stack, resources, outputs, secretOutputs, invokes };
  } finally {
    process.off("unhandledRejection", onRejection);
  }
}

async function resolveOutputs(exported: unknown): Promise<{ outputs: Record<string, unknown>; secretOutputs: string[] }> {
  const outputs: Record<string, unknown> = {};
  const secretOutputs: string[] = [];
  if (exported === undefined || exported === null) return { outputs, secretOutputs };
  for (const [k, v] of Object.entries(exported as Record<string, unknown>)) {
    const out = pulumi.output(v);
    // Output#promise() is internal to the SDK but, unlike apply, rejects when the value failed.
    const [value, secret] = await Promise.all([(out as any).promise() as Promise<unknown>, (out as any).isSecret as Promise<boolean>]);
    outputs[k] = value;
    if (secret) secretOutputs.push(k);
  }
  return { outputs, secretOutputs };
}
