/** The simulated cluster keeps the API server's optimistic-concurrency rules. */
import * as YAML from "yaml";
import { ConflictError, NotFoundError } from "../../components/kube/vsApi";
import { SimulatedCluster } from "../../render/cluster";
import { simulatedAccess } from "../../render/simulatedApi";

const SEED = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: shop, resourceVersion: "4242" }
spec: { hosts: [reviews], http: [{ name: primary, route: [{ destination: { host: reviews } }] }] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ratings, namespace: books, resourceVersion: "77" }
spec: { hosts: [ratings], http: [{ route: [{ destination: { host: ratings } }] }] }
---
apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: shop }
spec: { ports: [{ port: 9080 }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: reviews, namespace: shop }
spec: { selector: { matchLabels: { app: reviews } }, template: { metadata: { labels: { app: reviews } }, spec: { containers: [{ name: r, image: r:1 }] } } }
`;

function setup() {
  const cluster = new SimulatedCluster();
  cluster.seedYaml(SEED);
  return { cluster, access: simulatedAccess(cluster) };
}
const reviews = () => YAML.parseAllDocuments(SEED)[0].toJS();

describe("simulatedAccess", () => {
  it("lists the VirtualServices of one namespace", async () => {
    expect((await setup().access.virtualServices.list("books")).map((v) => v.metadata.name)).toEqual(["ratings"]);
  });

  it("lists the VirtualServices of every namespace", async () => {
    expect((await setup().access.virtualServices.listAll()).map((v) => `${v.metadata.namespace}/${v.metadata.name}`).sort()).toEqual(["books/ratings", "shop/reviews"]);
  });

  it("rejects creating a name that exists with a ConflictError", async () => {
    await expect(setup().access.virtualServices.create(reviews())).rejects.toThrow(new ConflictError('virtualservices.networking.istio.io "reviews" already exists'));
  });

  it("stamps a new resourceVersion on a replace at the current version", async () => {
    const written = await setup().access.virtualServices.replace(reviews());
    expect(written.metadata.resourceVersion).not.toBe("4242");
  });

  it("rejects a replace at a stale resourceVersion with a ConflictError", async () => {
    const vs = reviews();
    vs.metadata.resourceVersion = "4000";
    await expect(setup().access.virtualServices.replace(vs)).rejects.toThrow(ConflictError);
  });

  it("rejects a replace of a missing VirtualService with a NotFoundError", async () => {
    const vs = reviews();
    vs.metadata.name = "gone";
    await expect(setup().access.virtualServices.replace(vs)).rejects.toThrow(NotFoundError);
  });

  it("refuses a delete whose precondition names another version", async () => {
    await expect(setup().access.virtualServices.delete("shop", "reviews", "4000")).rejects.toThrow(
      "Precondition failed: ResourceVersion in precondition: 4000, ResourceVersion in object meta: 4242",
    );
  });

  it("deletes at the current version", async () => {
    const { cluster, access } = setup();
    await access.virtualServices.delete("shop", "reviews", "4242");
    expect(cluster.list("networking.istio.io/v1", "VirtualService").map((v) => v.metadata.name)).toEqual(["ratings"]);
  });

  it("treats deleting a missing VirtualService as done", async () => {
    await expect(setup().access.virtualServices.delete("shop", "gone", "1")).resolves.toBeUndefined();
  });

  it("reads a Service and a Deployment that exist", async () => {
    const { reader } = setup().access;
    const found = await Promise.all([reader.getService("shop", "reviews"), reader.getDeployment("shop", "reviews")]);
    expect(found.map((o) => `${o?.kind} ${o?.metadata.name}`)).toEqual(["Service reviews", "Deployment reviews"]);
  });

  it("answers a missing Service or Deployment with undefined", async () => {
    const { reader } = setup().access;
    expect(await Promise.all([reader.getService("shop", "nope"), reader.getDeployment("shop", "nope")])).toEqual([undefined, undefined]);
  });
});
