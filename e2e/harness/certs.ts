/**
 * A throwaway PKI for one e2e run, made with the `openssl` CLI (Node's crypto can make keys but
 * not sign certificates): a CA, the API server's serving certificate for 127.0.0.1/localhost, an
 * admin client certificate in `system:masters`, and the service-account signing key.
 *
 * The API server authenticates client certificates against --client-ca-file; the subject's CN is
 * the user name and each O a group
 * (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#x509-client-certificates).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  saKey: string;
  saPub: string;
}

export interface ClientCert {
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  // -batch and no stdin: openssl must never wait for a prompt.
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 });
}

const DAYS = "2"; // a run lasts minutes; a short life limits what a leaked key could do

function newKey(dir: string, name: string): string {
  const file = path.join(dir, `${name}.key`);
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file], dir);
  fs.chmodSync(file, 0o600);
  return file;
}

/** Signs a certificate for `subject` with the CA; `ext` lines go to an x509v3 extension file. */
function sign(dir: string, name: string, subject: string, ext: string[]): ClientCert {
  const key = newKey(dir, name);
  const csr = path.join(dir, `${name}.csr`);
  const cert = path.join(dir, `${name}.crt`);
  const extFile = path.join(dir, `${name}.ext`);
  fs.writeFileSync(extFile, ext.join("\n") + "\n");
  openssl(["req", "-batch", "-new", "-key", key, "-subj", subject, "-out", csr], dir);
  openssl(["x509", "-req", "-in", csr, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", DAYS, "-extfile", extFile, "-out", cert], dir);
  return { cert, key };
}

export function makePki(dir: string): Pki {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caKey = newKey(dir, "ca");
  const caCert = path.join(dir, "ca.crt");
  openssl(
    ["req", "-batch", "-x509", "-new", "-key", caKey, "-subj", "/CN=forkstack-e2e-ca", "-days", DAYS, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", caCert],
    dir,
  );
  const server = sign(dir, "apiserver", "/CN=kube-apiserver", [
    "basicConstraints=CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth",
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc",
  ]);
  const saKey = newKey(dir, "service-account");
  const saPub = path.join(dir, "service-account.pub");
  openssl(["pkey", "-in", saKey, "-pubout", "-out", saPub], dir);
  return { dir, caCert, caKey, serverCert: server.cert, serverKey: server.key, saKey, saPub };
}

/** A client certificate for `user` in `groups` (each becomes an O= of the subject). */
export function clientCert(pki: Pki, user: string, groups: string[]): ClientCert {
  const subject = groups.map((g) => `/O=${g}`).join("") + `/CN=${user}`;
  return sign(pki.dir, `client-${user.replace(/[^a-z0-9-]/gi, "_")}`, subject, [
    "basicConstraints=CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=clientAuth",
  ]);
}
