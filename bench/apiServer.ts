/**
 * The local API test server (test/helpers/fakeKubeApi.ts) in a process of its own, for the
 * route-writes benchmark: a real API server does not share an event loop with its clients, and 200
 * clients in the server's process would slow every answer and stretch each writer's window between
 * read and write. Seeded with the objects given as JSON on argv[2]; prints one JSON line with its
 * kubeconfig; stops when its stdin closes.
 */
import { startFakeKubeApi } from "../test/helpers/fakeKubeApi";

async function main() {
  const api = await startFakeKubeApi({ seed: JSON.parse(process.argv[2] ?? "[]") });
  process.stdout.write(`${JSON.stringify({ kubeconfig: api.kubeconfig })}\n`);
  process.stdin.resume();
  process.stdin.on("end", () => void api.close().then(() => process.exit(0)));
}

main().catch((err) => {
  process.stderr.write(`apiServer: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
