/**
 * `npm run bench` refuses a wrong flag in one line, before it starts anything (bench/run.ts).
 */
import { spawnSync } from "child_process";
import * as path from "path";

const root = path.join(__dirname, "..");
const bench = (...args: string[]) =>
  spawnSync(process.execPath, [require.resolve("ts-node/dist/bin"), "--transpile-only", path.join(root, "bench", "run.ts"), ...args], { cwd: root, encoding: "utf8", timeout: 60_000 });

describe("npm run bench with a wrong flag", () => {
  it.each([
    [["--only", "routes", "--server", "real"], 'bench: --server must be test (the local API test server) or kube (the e2e tier\'s kube-apiserver), not "real"'],
    [["--server", "kube"], "bench: --server kube applies to the route writes only: add --only routes"],
    [["--only", "everything"], 'bench: --only must be render or routes, not "everything"'],
    [["--only", "routes", "--strategies", "turns,queue"], 'bench: --strategies takes one or more of turns, patch, replace (comma-separated), not "queue"'],
    [["--forks", "50,lots"], 'bench: --forks takes positive integers such as 50,100,200, not "50,lots"'],
  ])("%j: exits 2 with one line naming the flag, the value and the fix", (args, line) => {
    const r = bench(...args);
    expect([r.status, r.stdout, r.stderr]).toEqual([2, "", `${line}\n`]);
  });
});
