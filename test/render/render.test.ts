import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  loadStackConfig,
  missingDirs,
  ProgramWiring,
  RENDER_EPOCH,
  renderFiles,
  RenderError,
  renderStacks,
  summarize,
  writeRender,
} from "../../render/render";
import { SimulatedCluster } from "../../render/cluster";

const FIXTURES = path.join(__dirname, "../fixtures/render/unit");
const SEED = path.join(FIXTURES, "seed.yaml");

/**
 * A small program standing in for index.ts: a base stack writes a ConfigMap and exports its domain
 * (plus a secret); a fork stack reads the base through its StackReference and writes its own.
 */
function testProgram(seen: { now?: string[] } = {}): ProgramWiring {
  return {
    program: () => {
      const config = new pulumi.Config("forkstack");
      seen.now?.push(process.env.FORKSTACK_NOW ?? "(unset)");
      const fork = config.getObject<{ id: string }>("fork");
      if (fork === undefined) {
        new k8s.core.v1.ConfigMap("base-settings", {
          metadata: { name: "base-settings", namespace: "shop" },
          data: { domain: config.require("domain"), greeting: config.get("greeting") ?? "(none)", token: pulumi.secret("s3cr3t") },
        });
        return { domain: config.require("domain"), token: pulumi.secret("s3cr3t"), urls: { "shop.dev.example.com": "https://shop.dev.example.com/" } };
      }
      if (fork.id === "fail") throw new pulumi.RunError(`stack ${pulumi.getStack()}: forkstack:fork.id: "fail" is not allowed; use another id`);
      const base = new pulumi.StackReference(config.require("baseStack"));
      new k8s.core.v1.ConfigMap(`${fork.id}-settings`, {
        metadata: { name: `${fork.id}-settings`, namespace: "shop", labels: { "forkstack.dev/fork": fork.id } },
        data: { domain: base.requireOutput("domain") as pulumi.Output<string> },
      });
      return { urls: { "shop.dev.example.com": `https://${fork.id}.shop.dev.example.com/` } };
    },
  };
}

const made: string[] = [];
afterAll(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "forkstack-render-"));
  made.push(dir);
  return dir;
}

/** Writes a config file for one stack into a fresh directory. */
function configDirWith(files: Record<string, string>): string {
  const dir = tmpDir();
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

describe("loadStackConfig", () => {
  it("reads full keys and puts bare keys in the forkstack namespace", () => {
    const { config } = loadStackConfig(FIXTURES, "base");
    expect(config["forkstack:domain"]).toBe("dev.example.com");
    expect(config["forkstack:greeting"]).toBe("hello");
  });

  it("keeps object values as objects", () => {
    const { config } = loadStackConfig(FIXTURES, "base");
    expect(config["forkstack:upstreams"]).toEqual([{ host: "shop.dev.example.com", service: "frontend.shop:80" }]);
  });

  it("leaves encrypted values out and names their keys", () => {
    const loaded = loadStackConfig(FIXTURES, "secure");
    expect(loaded.config).toEqual({ "forkstack:domain": "dev.example.com" });
    expect(loaded.skippedSecure).toEqual(["forkstack:kubeconfig"]);
  });

  it("names the stack and the missing file when a stack has no config file", () => {
    expect(() => loadStackConfig(FIXTURES, "nobody")).toThrow(`--stack: "nobody" has no config file ${path.join(FIXTURES, "Pulumi.nobody.yaml")}; write`);
  });

  it("names the stack and the file when its YAML is invalid", () => {
    expect(() => loadStackConfig(FIXTURES, "broken")).toThrow(new RegExp(`^stack broken: ${path.join(FIXTURES, "Pulumi.broken.yaml").replace(/[.]/g, "\\.")}: .* is not valid YAML; fix the file`));
  });
});

describe("renderStacks", () => {
  it("resolves a fork's StackReference to the outputs of the stack rendered before it", async () => {
    const render = await renderStacks({ stacks: ["base", "fork"], configDir: FIXTURES, clusterFiles: [SEED], program: testProgram() });
    expect(render.cluster.get("v1", "ConfigMap", "shop", "alice-settings")?.data).toEqual({ domain: "dev.example.com" });
  });

  it("runs every stack against one cluster seeded from the --cluster files", async () => {
    const render = await renderStacks({ stacks: ["base", "fork"], configDir: FIXTURES, clusterFiles: [SEED], program: testProgram() });
    const names = render.cluster.all().map((o) => `${o.kind} ${o.metadata.name}`);
    expect(names).toEqual(["ConfigMap alice-settings", "ConfigMap base-settings", "ConfigMap settings", "Namespace shop"]);
  });

  it("rejects a fork whose baseStack is not rendered before it, before any stack runs", async () => {
    const seen = { now: [] as string[] };
    await expect(renderStacks({ stacks: ["base", "orphan"], configDir: FIXTURES, program: testProgram(seen) })).rejects.toThrow(
      'forkstack:baseStack: "organization/forkstack/elsewhere" names stack "elsewhere", which is not rendered before "orphan"; add --stack elsewhere before --stack orphan',
    );
    expect(seen.now).toEqual([]);
  });

  it("rejects a stack named twice", async () => {
    await expect(renderStacks({ stacks: ["base", "base"], configDir: FIXTURES, program: testProgram() })).rejects.toThrow('--stack: "base" is given twice; name each stack once');
  });

  it("rejects a missing --cluster file by name", async () => {
    const missing = path.join(FIXTURES, "nope.yaml");
    await expect(renderStacks({ stacks: ["base"], configDir: FIXTURES, clusterFiles: [missing], program: testProgram() })).rejects.toThrow(
      `--cluster: ${JSON.stringify(missing)} cannot be read; pass a YAML file of Kubernetes objects that exists`,
    );
  });

  it("rejects a --cluster file whose documents are not Kubernetes objects", async () => {
    const bad = path.join(FIXTURES, "bad-seed.yaml");
    await expect(renderStacks({ stacks: ["base"], configDir: FIXTURES, clusterFiles: [bad], program: testProgram() })).rejects.toThrow(
      `--cluster: ${JSON.stringify(bad)} is not a YAML file of Kubernetes objects (every document needs apiVersion, kind and metadata.name)`,
    );
  });

  it("prefixes a failing stack's error with its name once", async () => {
    const dir = configDirWith({
      "Pulumi.base.yaml": "config:\n  forkstack:domain: dev.example.com\n",
      "Pulumi.fail.yaml": "config:\n  forkstack:baseStack: organization/forkstack/base\n  forkstack:fork: { id: fail }\n",
    });
    const rejection = renderStacks({ stacks: ["base", "fail"], configDir: dir, program: testProgram() });
    await expect(rejection).rejects.toBeInstanceOf(RenderError);
    await expect(rejection).rejects.toThrow(/^stack fail: forkstack:fork\.id: "fail" is not allowed; use another id$/);
  });

  it("prefixes an error that does not name the stack with the stack's name", async () => {
    const failing: ProgramWiring = { program: () => Promise.reject(new Error("boom\nat somewhere")) };
    await expect(renderStacks({ stacks: ["base"], configDir: FIXTURES, program: failing })).rejects.toThrow(/^stack base: boom$/);
  });

  it("warns that an encrypted value is rendered as unset", async () => {
    const warnings: string[] = [];
    await renderStacks({ stacks: ["secure"], configDir: FIXTURES, program: testProgram(), onWarning: (l) => warnings.push(l) });
    expect(warnings).toEqual(["stack secure: forkstack:kubeconfig is encrypted and cannot be decrypted offline; rendering as if it were unset"]);
  });

  it("reports progress once per stack in order", async () => {
    const progress: string[] = [];
    await renderStacks({ stacks: ["base", "fork"], configDir: FIXTURES, program: testProgram(), onProgress: (s, i, n) => progress.push(`${s} ${i + 1}/${n}`) });
    expect(progress).toEqual(["base 1/2", "fork 2/2"]);
  });

  it("pins the program's clock to RENDER_EPOCH when FORKSTACK_NOW is unset, and restores it after", async () => {
    const saved = process.env.FORKSTACK_NOW;
    delete process.env.FORKSTACK_NOW;
    try {
      const seen = { now: [] as string[] };
      await renderStacks({ stacks: ["base"], configDir: FIXTURES, program: testProgram(seen) });
      expect(seen.now).toEqual([RENDER_EPOCH]);
      expect(process.env.FORKSTACK_NOW).toBeUndefined();
    } finally {
      if (saved !== undefined) process.env.FORKSTACK_NOW = saved;
    }
  });

  it("lets --now win over FORKSTACK_NOW", async () => {
    const saved = process.env.FORKSTACK_NOW;
    process.env.FORKSTACK_NOW = "2030-05-05T00:00:00Z";
    try {
      const seen = { now: [] as string[] };
      await renderStacks({ stacks: ["base"], configDir: FIXTURES, program: testProgram(seen), now: "2027-07-07T00:00:00Z" });
      expect(seen.now).toEqual(["2027-07-07T00:00:00Z"]);
    } finally {
      if (saved === undefined) delete process.env.FORKSTACK_NOW;
      else process.env.FORKSTACK_NOW = saved;
    }
  });

  it("takes FORKSTACK_NOW when --now is not given", async () => {
    const saved = process.env.FORKSTACK_NOW;
    process.env.FORKSTACK_NOW = "2030-05-05T00:00:00Z";
    try {
      const seen = { now: [] as string[] };
      await renderStacks({ stacks: ["base"], configDir: FIXTURES, program: testProgram(seen) });
      expect(seen.now).toEqual(["2030-05-05T00:00:00Z"]);
    } finally {
      if (saved === undefined) delete process.env.FORKSTACK_NOW;
      else process.env.FORKSTACK_NOW = saved;
    }
  });

  it("rejects a --now that is not an instant", async () => {
    await expect(renderStacks({ stacks: ["base"], configDir: FIXTURES, program: testProgram(), now: "tomorrow" })).rejects.toThrow('--now: "tomorrow" is not an ISO 8601 instant');
  });
});

describe("missingDirs", () => {
  it("names every folder a nested --out needs, outermost first", () => {
    const root = tmpDir();
    const out = path.join(root, "a", "b", "c");
    expect(missingDirs(out)).toEqual([path.join(root, "a"), path.join(root, "a", "b"), out]);
  });

  it("is empty for a folder that exists", () => {
    expect(missingDirs(tmpDir())).toEqual([]);
  });
});

describe("writeRender", () => {
  async function renderBaseAndFork() {
    return renderStacks({ stacks: ["base", "fork"], configDir: FIXTURES, clusterFiles: [SEED], program: testProgram() });
  }

  it("writes every cluster object to cluster.yaml as multi-document YAML", async () => {
    const out = path.join(tmpDir(), "out");
    writeRender(out, await renderBaseAndFork());
    const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(out, "cluster.yaml"), "utf8")).map((d) => d.toJS());
    expect(docs.map((d) => d.metadata.name)).toEqual(["alice-settings", "base-settings", "settings", "shop"]);
  });

  it("writes cluster.yaml so that a YAML 1.1 reader (kubectl's go-yaml) reads every string back as a string", () => {
    const cluster = new SimulatedCluster();
    const data = { flag: "on", off: "off", answer: "yes", short: "y", no: "NO", time: "12:30", big: "1_000", hex: "0x1F", plain: "hello" };
    cluster.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "flags", namespace: "shop" }, data });
    const text = cluster.toYaml();
    const read = (version: "1.1" | "1.2") => YAML.parseAllDocuments(text, { version }).map((d) => d.toJS().data);
    expect([read("1.1"), read("1.2")]).toEqual([[data], [data]]);
  });

  it("writes cluster-scoped objects (the fork policy's admission policies) without a namespace and namespaced ones without one into default", () => {
    const cluster = new SimulatedCluster();
    cluster.put({ apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingAdmissionPolicyBinding", metadata: { name: "forkstack-fork-routes" } });
    cluster.put({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "api" } });
    const docs = YAML.parseAllDocuments(cluster.toYaml()).map((d) => d.toJS());
    expect(docs.map((o) => `${o.kind} ${o.metadata.namespace ?? "(cluster)"}`).sort()).toEqual(["Deployment default", "ValidatingAdmissionPolicyBinding (cluster)"]);
  });

  it("writes every registered resource with stack, type, name and inputs, secrets masked", async () => {
    const out = path.join(tmpDir(), "out");
    writeRender(out, await renderBaseAndFork());
    const resources = JSON.parse(fs.readFileSync(path.join(out, "resources.json"), "utf8"));
    const ref = resources.find((r: any) => r.type === "pulumi:pulumi:StackReference");
    expect(ref).toMatchObject({ stack: "fork", name: "organization/forkstack/base", read: true });
    const base = resources.find((r: any) => r.name === "base-settings");
    // The SDK marks the whole property that holds a secret as secret, so all of `data` is masked.
    expect(base).toEqual({
      stack: "base",
      type: "kubernetes:core/v1:ConfigMap",
      name: "base-settings",
      read: false,
      inputs: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "base-settings", namespace: "shop" }, data: "[secret]" },
    });
  });

  it("writes each stack's outputs keyed by stack name with secret outputs masked", async () => {
    const out = path.join(tmpDir(), "out");
    writeRender(out, await renderBaseAndFork());
    const outputs = JSON.parse(fs.readFileSync(path.join(out, "outputs.json"), "utf8"));
    expect(outputs.base).toEqual({ domain: "dev.example.com", token: "[secret]", urls: { "shop.dev.example.com": "https://shop.dev.example.com/" } });
    expect(outputs.fork).toEqual({ urls: { "shop.dev.example.com": "https://alice.shop.dev.example.com/" } });
  });

  it("replaces an earlier render in the same directory", async () => {
    const out = path.join(tmpDir(), "out");
    writeRender(out, await renderBaseAndFork());
    writeRender(out, await renderStacks({ stacks: ["base"], configDir: FIXTURES, program: testProgram() }));
    expect(Object.keys(JSON.parse(fs.readFileSync(path.join(out, "outputs.json"), "utf8")))).toEqual(["base"]);
    expect(fs.readdirSync(path.dirname(out))).toEqual(["out"]);
  });

  it("refuses a directory that holds other files and leaves it untouched", async () => {
    const out = tmpDir();
    fs.writeFileSync(path.join(out, "notes.txt"), "mine");
    expect(() => writeRender(out, { cluster: new SimulatedCluster(), results: [] })).toThrow(
      `--out: ${JSON.stringify(out)} holds other files (notes.txt); name a new or empty directory`,
    );
    expect(fs.readdirSync(out)).toEqual(["notes.txt"]);
  });

  it("renders the same input to byte-identical files", async () => {
    const first = renderFiles(await renderBaseAndFork());
    const second = renderFiles(await renderBaseAndFork());
    expect(second).toEqual(first);
  });
});

describe("summarize", () => {
  it("counts each stack's created objects and reads and tells forks from bases", async () => {
    const render = await renderStacks({ stacks: ["base", "fork"], configDir: FIXTURES, program: testProgram() });
    const summary = summarize(render, "out");
    expect(summary.stacks.map(({ stack, kind, objects, reads }) => ({ stack, kind, objects, reads }))).toEqual([
      { stack: "base", kind: "base", objects: ["ConfigMap shop/base-settings"], reads: 0 },
      { stack: "fork", kind: "fork", objects: ["ConfigMap shop/alice-settings"], reads: 1 },
    ]);
  });
});
