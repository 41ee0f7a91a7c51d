/**
 * Stands in for the two controllers a LoadBalancer Service needs and the e2e API server lacks:
 * the cloud's load-balancer controller, which writes `status.loadBalancer.ingress`
 * (https://kubernetes.io/docs/concepts/services-networking/service/#loadbalancer), and
 * kube-controller-manager's endpoints controller, which writes the Service's Endpoints. The
 * Kubernetes provider awaits both before it reports the Service created; the gateway component
 * reads the address from the status. The address is a reserved name (RFC 2606 `.invalid`): no
 * traffic goes anywhere.
 */
import { call, pathOf, request, RestConfig } from "./rest";

export const FAKE_LB_HOSTNAME = "gateway.e2e.invalid";

async function serveOnce(rest: RestConfig, namespace: string): Promise<void> {
  const services = (await call(rest, "GET", pathOf("v1", "services", namespace))).items as any[];
  for (const svc of services) {
    if (svc.spec?.type !== "LoadBalancer") continue;
    const name = svc.metadata.name;
    if (!svc.status?.loadBalancer?.ingress?.length) {
      await call(rest, "PATCH", `${pathOf("v1", "services", namespace, name)}/status`, { status: { loadBalancer: { ingress: [{ hostname: FAKE_LB_HOSTNAME }] } } }, { contentType: "application/merge-patch+json" });
    }
    const ep = await request(rest, "GET", pathOf("v1", "endpoints", namespace, name));
    if (ep.status === 404) {
      const ports = (svc.spec.ports ?? []).map((p: any) => ({ name: p.name, port: typeof p.targetPort === "number" ? p.targetPort : p.port, protocol: p.protocol ?? "TCP" }));
      await call(rest, "POST", pathOf("v1", "endpoints", namespace), {
        apiVersion: "v1",
        kind: "Endpoints",
        metadata: { name, namespace },
        subsets: [{ addresses: [{ ip: "10.244.0.10" }], ports }],
      });
    }
  }
}

/** Serves LoadBalancer Services in `namespace` until the returned stop function is called. */
export function fakeLoadBalancer(rest: RestConfig, namespace: string, everyMs = 200): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    while (running) {
      await serveOnce(rest, namespace).catch(() => undefined); // the next round retries
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}
