/**
 * Project files that decide how the program runs outside Jest: the tsconfig `pulumi up` compiles
 * with, and the Node version CI and the npm scripts use.
 */
import * as fs from "fs";
import * as path from "path";

const root = path.join(__dirname, "..");
const read = (file: string) => fs.readFileSync(path.join(root, file), "utf8");

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
