#!/usr/bin/env node
/**
 * Runs a package's entry point under a Node.js that forkstack supports.
 *
 *   node scripts/run.js <module entry, e.g. jest/bin/jest> [args...]
 *
 * forkstack needs Node ^22.19 or 24 (package.json `engines`: `@kubernetes/client-node` 2.x depends
 * on undici 8, which needs 22.19; `@pulumi/pulumi` needs 22). Where the `node` that npm started is
 * one of those, the entry point runs under it. Where it is older (Node 20 reached end of life
 * on 2026-04-30 but is still the system Node of many machines), the Node 24 that `.ci/node.sh` pins is
 * installed from the npm registry by `.ci/node.sh` (cached per user) and the entry point runs under
 * it, so `npm test` and `npm run demo` work on a fresh clone either way.
 */
"use strict";
const { spawnSync } = require("child_process");
const path = require("path");

const MIN = [22, 19];
const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error("usage: node scripts/run.js <module entry> [args...]");
  process.exit(2);
}

function supported(version) {
  const [major, minor] = version.split(".").map(Number);
  return major === 24 || (major === 22 && minor >= MIN[1]) || major > 24;
}

let node = process.execPath;
if (!supported(process.versions.node)) {
  const installed = spawnSync("bash", [path.join(__dirname, "..", ".ci", "node.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (installed.status !== 0) {
    console.error(`forkstack needs Node ^22.19 or 24 (this is ${process.version}) and could not install Node 24 from the npm registry; install it (see .nvmrc) and retry`);
    process.exit(1);
  }
  node = path.join(installed.stdout.trim(), "bin", "node");
  // One short line: the version it found, the one it uses and where that lives (~ for the home folder).
  const home = require("os").homedir();
  const dir = path.dirname(path.dirname(node));
  const version = (/(\d+\.\d+\.\d+)$/.exec(dir) || [])[1] || "24";
  const where = path.dirname(dir).startsWith(home) ? `~${path.dirname(dir).slice(home.length)}` : path.dirname(dir);
  console.error(`forkstack: Node ${process.version} is too old; using Node ${version} from ${where}`);
}

// ts-node keeps a V8 compile cache of the TypeScript compiler, by default in the temp folder
// (os.tmpdir()/v8-compile-cache-<uid>, v8-compile-cache-lib): keep it with forkstack's other caches,
// so `npm run demo` and the CLIs leave nothing in the temp folder.
const cacheHome = process.env.XDG_CACHE_HOME || path.join(require("os").homedir(), ".cache");
// One folder per Node (a cache made by another V8 is refused, not misread, but would churn).
const nodeKey = node === process.execPath ? `v8-${process.versions.v8}` : path.basename(path.dirname(path.dirname(node)));
const compileCache = process.env.V8_COMPILE_CACHE_CACHE_DIR || path.join(cacheHome, "forkstack", "v8-compile-cache", nodeKey);

// A child process rather than require(): a bin such as ts-node's runs only as the main module.
const resolved = require.resolve(entry, { paths: [process.cwd(), path.join(__dirname, "..")] });
const run = spawnSync(node, [resolved, ...args], {
  stdio: "inherit",
  // Child processes of the entry point (`node`, ts-node) must find the same Node first.
  env: { ...process.env, V8_COMPILE_CACHE_CACHE_DIR: compileCache, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH ?? ""}` },
});
if (run.error) {
  console.error(`forkstack: could not start ${node}: ${run.error.message}`);
  process.exit(1);
}
if (run.signal) process.kill(process.pid, run.signal);
process.exit(run.status ?? 1);
