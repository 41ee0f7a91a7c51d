/** The simulated cluster keeps the API server's optimistic-concurrency rules. */
import * as YAML from "yaml";
import { ConflictError, NotFoundError, PatchRejectedError } from "../../components/kube/vsApi";
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

  it("applies a JSON Patch to the object as it is now, whatever version was read, and stamps a new version", async () => {
    const { access } = setup();
    const written = await access.virtualServices.patch("shop", "reviews", [{ op: "add", path: "/spec/http/0", value: { name: "first", route: [{ destination: { host: "x" } }] } }]);
    expect([(written.spec as any).http.map((r: any) => r.name), written.metadata.resourceVersion !== "4242"]).toEqual([["first", "primary"], true]);
  });

  it("rejects a patch whose test fails with a PatchRejectedError (a ConflictError) and changes nothing", async () => {
    const { cluster, access } = setup();
    const rejected = access.virtualServices.patch("shop", "reviews", [
      { op: "remove", path: "/spec/http/0" },
      { op: "test", path: "/spec/hosts/0", value: "ratings" },
    ]);
    await expect(rejected).rejects.toThrow(PatchRejectedError);
    await expect(rejected).rejects.toThrow(ConflictError);
    expect(cluster.get("networking.istio.io/v1", "VirtualService", "shop", "reviews")).toEqual({ ...reviews(), metadata: { ...reviews().metadata } });
  });

  it("rejects a patch of a missing VirtualService with a NotFoundError", async () => {
    await expect(setup().access.virtualServices.patch("shop", "gone", [{ op: "remove", path: "/spec/http/0" }])).rejects.toThrow(NotFoundError);
  });

  it("keeps the object's name and namespace whatever the patch says", async () => {
    const written = await setup().access.virtualServices.patch("shop", "reviews", [{ op: "replace", path: "/metadata/name", value: "other" }]);
    expect([written.metadata.namespace, written.metadata.name]).toEqual(["shop", "reviews"]);
  });
});
