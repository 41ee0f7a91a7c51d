/**
 * The e2e API server enforces RBAC and authenticates client certificates for real: a developer's
 * certificate (CN = user, O = group) gets exactly what a RoleBinding grants its group, nothing else
 * (https://kubernetes.io/docs/reference/access-authn-authz/rbac/).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import { clientCert } from "../harness/certs";
import { ensureNamespace } from "../harness/fixtures";
import { apply } from "../harness/objects";
import { request, RestConfig, waitFor } from "../harness/rest";
import { adminRest, e2eState } from "../harness/state";

const state = e2eState();
const rest = adminRest(state);
const vsPath = (ns: string) => `/apis/networking.istio.io/v1/namespaces/${ns}/virtualservices`;

describe("RBAC on the e2e API server", () => {
  let dev: RestConfig;

  before(async () => {
    const pkiDir = path.dirname(state.pki.ca);
    const cert = clientCert({ dir: pkiDir, caCert: state.pki.ca, caKey: state.pki.caKey } as any, "dev-mallory", ["forkstack:forks"]);
    dev = { server: state.server, ca: rest.ca, cert: fs.readFileSync(cert.cert, "utf8"), key: fs.readFileSync(cert.key, "utf8") };
    for (const ns of ["e2e-rbac-a", "e2e-rbac-b"]) await ensureNamespace(rest, ns);
  });

  it("refuses a user whose group has no binding (403, not 401: the certificate authenticated)", async () => {
    const res = await request(dev, "GET", vsPath("e2e-rbac-a"));
    assert.equal(res.status, 403);
    assert.match(res.body.message, /User "dev-mallory" cannot list resource "virtualservices"/);
  });

  it("grants what a RoleBinding to the group grants, in that namespace only", async () => {
    await apply(rest, {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "vs-reader", namespace: "e2e-rbac-a" },
      rules: [{ apiGroups: ["networking.istio.io"], resources: ["virtualservices"], verbs: ["get", "list"] }],
    });
    await apply(rest, {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "forks-read-vs", namespace: "e2e-rbac-a" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "vs-reader" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "forkstack:forks" }],
    });
    // The authorizer sees a new binding through its informer, a moment after the write.
    await waitFor("the RoleBinding to take effect", async () => (await request(dev, "GET", vsPath("e2e-rbac-a"))).status === 200, 10_000);
    assert.equal((await request(dev, "GET", vsPath("e2e-rbac-b"))).status, 403);
    assert.equal((await request(dev, "POST", vsPath("e2e-rbac-a"), { apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "x" }, spec: { hosts: ["x"] } })).status, 403);
  });
});
