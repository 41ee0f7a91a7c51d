/**
 * Project files that decide how the program runs outside Jest: the tsconfig `pulumi up` compiles
 * with, and the Node version CI and the npm scripts use.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";

// The function the Pulumi Node.js host itself uses to read the tsconfig (marked @internal, so untyped).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { loadTypeScriptCompilerOptions } = require("@pulumi/pulumi/tsutils") as {
  loadTypeScriptCompilerOptions(tsconfigPath: string): { noCheck?: boolean };
};

const root = path.join(__dirname, "..");
const read = (file: string) => fs.readFileSync(path.join(root, file), "utf8");

describe("pulumi up", () => {
  const runtime = YAML.parse(read("Pulumi.yaml")).runtime;

  it("compiles with a tsconfig the Pulumi Node.js host reads as transpile-only", () => {
    expect(runtime.options.typescript).toBe(true);
    // The host takes this file's own compilerOptions.noCheck as ts-node's transpileOnly (cmd/run/run.js).
    expect(loadTypeScriptCompilerOptions(path.join(root, runtime.options.tsconfig)).noCheck).toBe(true);
  });

  it("compiles the same sources as the type-checked build", () => {
    const pulumiTsconfig = JSON.parse(read(runtime.options.tsconfig));
    expect(pulumiTsconfig.extends).toBe("./tsconfig.json");
    expect(Object.keys(pulumiTsconfig.compilerOptions)).toEqual(["noCheck"]);
    expect(loadTypeScriptCompilerOptions(path.join(root, "tsconfig.json")).noCheck).toBeUndefined();
  });
});

describe("Node version", () => {
  const pinned = /^NODE_VERSION=(\d+)\.(\d+)\.(\d+)$/m.exec(read(".ci/node.sh"));
  const engines: string = JSON.parse(read("package.json")).engines.node;

  it("pins in .ci/node.sh a release of the line .nvmrc names", () => {
    expect(pinned).not.toBeNull();
    expect(pinned![1]).toBe(read(".nvmrc").trim());
  });

  it("accepts Node 22 (from 22.19) and 24 in engines, and nothing older", () => {
    expect(engines).toBe("^22.19.0 || ^24.0.0");
  });

  it("runs this suite on a Node that engines accepts", () => {
    const [major, minor] = process.versions.node.split(".").map(Number);
    expect(major === 24 || (major === 22 && minor >= 19)).toBe(true);
  });
});

describe("scripts/run.js", () => {
  const { spawnSync } = require("child_process") as typeof import("child_process");
  const run = (...args: string[]) => spawnSync(process.execPath, [path.join(root, "scripts", "run.js"), "./test/fixtures/bin/mainOnly.js", ...args], { cwd: root, encoding: "utf8" });

  it("runs the entry point as the main module with its arguments", () => {
    const r = run("0", "--flag", "value with spaces");
    expect(JSON.parse(r.stdout)).toMatchObject({ args: ["0", "--flag", "value with spaces"] });
  });

  it("passes the entry point's exit code on", () => {
    expect(run("3").status).toBe(3);
  });

  it("runs it on a Node that engines accepts", () => {
    const [major, minor] = JSON.parse(run("0").stdout).node.split(".").map(Number);
    expect(major === 24 || (major === 22 && minor >= 19)).toBe(true);
  });
});
