/**
 * A fault-injecting HTTPS proxy between a fork's Pulumi run and the e2e kube-apiserver: it serves
 * with the API server's own certificate (127.0.0.1, signed by the run's CA, so a kubeconfig naming
 * the proxy verifies as one naming the server), and forwards each request with the fork user's
 * client certificate, so the server authorises the user as it would without the proxy. `fault`
 * decides per request: forward it, never answer it (`hang`: the server is still working on it),
 * answer 503 / 429 without forwarding, or forward it and drop the connection once the server has
 * answered (`lose-answer`: the write was applied, the client never hears so). Every request is recorded with what was done to it.
 */
import * as fs from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";

export type Fault = "hang" | "503" | "429" | "lose-answer" | undefined;

export interface ProxiedRequest {
  method: string;
  path: string;
  fault: Fault;
}

export interface FaultProxy {
  /** `https://127.0.0.1:<port>`. */
  url: string;
  requests: ProxiedRequest[];
  /**
   * Refuses connections for `ms` (stops listening, drops open connections), then listens on the
   * same port again: what a client sees while the API server restarts.
   */
  unavailableFor(ms: number): Promise<void>;
  /** Ends held requests and stops listening. */
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  /** The API server, `https://127.0.0.1:<port>`. */
  upstream: string;
  /** Files: the run's CA, the API server's serving certificate and key, the user's client certificate and key. */
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  fault: (request: { method: string; path: string }) => Fault;
}

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = new URL(opts.upstream);
  const ca = fs.readFileSync(opts.ca);
  const cert = fs.readFileSync(opts.clientCert);
  const key = fs.readFileSync(opts.clientKey);
  const agent = new https.Agent({ ca, cert, key, keepAlive: true });
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<Duplex>();
  const server = https.createServer({ cert: fs.readFileSync(opts.serverCert), key: fs.readFileSync(opts.serverKey) }, (req, res) => {
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    const fault = opts.fault({ method, path });
    requests.push({ method, path, fault });
    if (fault === "hang") {
      req.resume();
      return;
    }
    if (fault === "503" || fault === "429") {
      req.resume();
      const code = Number(fault);
      res.writeHead(code, { "content-type": "application/json", ...(code === 429 ? { "retry-after": "1" } : {}) });
      // The messages kube-apiserver sends: API priority and fairness shedding a request
      // (apiserver/pkg/endpoints/handlers/responsewriters: "Too many requests, please try again
      // later."), and apimachinery's NewServiceUnavailable default.
      const message = code === 429 ? "Too many requests, please try again later." : "the server is currently unable to handle the request";
      res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", code, reason: code === 429 ? "TooManyRequests" : "ServiceUnavailable", message }));
      return;
    }
    const headers = { ...req.headers, host: upstream.host };
    const out = https.request({ hostname: upstream.hostname, port: upstream.port, method, path, headers, agent }, (answer) => {
      if (fault === "lose-answer") {
        answer.resume();
        answer.on("end", () => res.destroy());
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.setTimeout(120_000, () => out.destroy(new Error("no answer from the API server in 120 s")));
    out.on("error", () => res.destroy());
    req.pipe(out);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    requests,
    unavailableFor: async (ms) => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      await new Promise((resolve) => setTimeout(resolve, ms));
      await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}
