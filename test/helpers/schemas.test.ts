import { validateAgainstSchema } from "./schemas";

describe("schema validation helper", () => {
  it("accepts a valid VirtualService and rejects one with a misspelt field type", () => {
    const vs = {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "api", namespace: "shop" },
      spec: { hosts: ["api.shop.svc.cluster.local"], http: [{ name: "default", route: [{ destination: { host: "api.shop.svc.cluster.local" } }] }] },
    };
    expect(() => validateAgainstSchema(vs)).not.toThrow();
    expect(() => validateAgainstSchema({ ...vs, spec: { ...vs.spec, hosts: "api" } })).toThrow(/VirtualService shop\/api/);
  });

  it("rejects a Deployment without a selector", () => {
    const d = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "a" }, spec: { template: { spec: { containers: [{ name: "a" }] } } } };
    expect(() => validateAgainstSchema(d)).toThrow(/selector/);
  });
});
