/**
 * `npm run explain -- --render DIR --host HOST [--path P] [--header K=V]... --calls svc,svc,... [--header-name H] [--json]`
 * `npm run explain -- --render DIR --verify`: every mesh hop against istiod's routes (render/meshCheck.ts).
 *
 * Thin: parses arguments (node:util parseArgs, strict), reads `DIR/cluster.yaml` (a render's
 * output, or `kubectl get … -o yaml` of a live cluster), calls explain.ts and prints the table (or
 * JSON with --json). Exit codes: 0 the chain holds, 1 the chain is broken, 2 the input is wrong
 * (one line `explain: …` on stderr, never a stack trace).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { DEFAULTS, HEADER_NAME } from "../components/config";
import { ConfigError, oneLine } from "../components/errors";
import { flagPhrase, FlagTable, formatFlags, HELP_FLAG, missingRequired, missingRequiredMessage, parseFlags, usageLine } from "./args";
import { KubeObject, SimulatedCluster } from "./cluster";
import { explainRequest, formatExplanation } from "./explain";
import { compareAnswers, formatDisagreement, meshRequests, runIstioRoutes } from "./meshCheck";

/** explain's flags: what parseArgs parses, what --help prints, what README's table is checked against. */
export const FLAGS = {
  render: { type: "string", arg: "DIR", ifOmitted: "required", help: "the folder a render wrote (reads DIR/cluster.yaml)" },
  host: { type: "string", arg: "HOST", ifOmitted: "required", help: "the public host the client calls, e.g. alice.shop.dev.example.com (a URL is read as its host and path)" },
  path: { type: "string", arg: "P", ifOmitted: "/, or the path of a --host URL", help: "the request path" },
  header: { type: "string", multiple: true, arg: "K=V", ifOmitted: "none", help: "a header the client sends" },
  calls: { type: "string", arg: "LIST", ifOmitted: "required", help: "the services the entry service calls in turn, e.g. api,catalog (name or name.namespace; '' for the gateway hop only)" },
  "header-name": { type: "string", arg: "H", ifOmitted: `the base stack's headerName in DIR/outputs.json, else ${DEFAULTS.headerName}`, help: "the fork header" },
  json: { type: "boolean", ifOmitted: "off", help: "print the result as JSON" },
  verify: {
    type: "boolean",
    ifOmitted: "off",
    help: "instead, check every mesh hop of the render against the Envoy routes istiod generates (builds the e2e tier's istio-routes tool from Go modules once; needs Go)",
  },
  help: HELP_FLAG,
} as const satisfies FlagTable;

/** What each exit code of explain means, as --help prints it. */
const EXIT_CODES = `exit code: 0 the chain holds (--verify: explain and istiod agree),
1 the chain is broken, each problem printed (--verify: they disagree), 2 the input is wrong`;

export const USAGE = `${usageLine("usage: npm run explain -- --render DIR --host HOST [--path P] [--header K=V]... --calls svc,svc,... [--header-name H] [--json]")}
${usageLine("       npm run explain -- --render DIR --verify [--header-name H]")}

${formatFlags(FLAGS)}

${EXIT_CODES}`;

/** The widest line explain prints (a table wider than this becomes one block per hop). */
export const WIDTH = 100;

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const FIX = "see npm run explain -- --help";

/** A mistake in the input: printed as its one line, exit code 2. */
class InputError extends Error {}

function inputError(field: string, value: unknown, problem: string, fix: string): InputError {
  return new InputError(new ConfigError(field, value, problem, fix).message);
}

const ARGS_HELP = {
  flags: flagPhrase(FLAGS),
  positionalFix: "pass everything as --flag value",
  help: FIX,
};

function parseHeaders(list: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf("=");
    const name = eq < 0 ? "" : item.slice(0, eq).trim().toLowerCase();
    if (eq < 0 || !HEADER_NAME.test(name)) {
      throw inputError("--header", item, "is not NAME=VALUE", "write e.g. --header x-fork-identifier=alice");
    }
    headers[name] = item.slice(eq + 1);
  }
  return headers;
}

const HOST = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:\d{1,5})?$/;

/**
 * `--host`: a host name (a port is ignored), or a URL as a browser shows it
 * (`https://alice.shop.dev.example.com/cart`), read as its host and, when not "/", its path.
 */
export function parseHost(text: string): { host: string; path?: string } {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw inputError("--host", text, "is not a URL or a host name", "write the host alone, e.g. --host alice.shop.dev.example.com");
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw inputError("--host", text, `has the scheme ${url.protocol}`, "use an http(s) URL or the host alone");
    return { host: url.hostname, ...(url.pathname !== "/" ? { path: url.pathname } : {}) };
  }
  const host = text.toLowerCase();
  if (!HOST.test(host)) throw inputError("--host", text, "is not a host name", "write the host alone, e.g. --host alice.shop.dev.example.com, or a URL https://…");
  return { host };
}

function readObjects(dir: string): KubeObject[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw inputError("--render", dir, "is not a directory", "name the --out folder of npm run render");
  }
  const file = path.join(dir, "cluster.yaml");
  if (!fs.existsSync(file)) throw inputError("--render", dir, "has no cluster.yaml", "render first: npm run render -- --stack dev --out DIR");
  // The same reading (multi-document YAML, Lists, required fields) as the render's --cluster seeds.
  const cluster = new SimulatedCluster();
  try {
    cluster.seedYaml(fs.readFileSync(file, "utf8"), file);
  } catch (err) {
    throw inputError(file, oneLine(err).slice(file.length + 2), "cannot be read as Kubernetes objects", "re-render it");
  }
  return cluster.all();
}

/** The fork header a render's base stack exported, if DIR/outputs.json says. */
function headerNameOf(dir: string): string | undefined {
  const file = path.join(dir, "outputs.json");
  if (!fs.existsSync(file)) return undefined;
  try {
    const outputs = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, Record<string, unknown>>;
    const names = Object.values(outputs).map((o) => o?.headerName).filter((h): h is string => typeof h === "string");
    return names[0];
  } catch {
    return undefined;
  }
}

/** Runs the CLI; resolves to the exit code. Never throws. */
export function main(argv: readonly string[], io: Io): number {
  try {
    const values = parseFlags(argv, FLAGS, ARGS_HELP, (message) => new InputError(message));
    if (values.help) {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    if (values.verify) return verify(values.render, values["header-name"], io);
    // `--calls ''` is the gateway hop alone; every other required flag needs a value.
    const missing = missingRequired(FLAGS, values, ["calls"]);
    if (missing.length > 0 || values.render === undefined || values.host === undefined || values.calls === undefined) {
      throw new InputError(missingRequiredMessage(missing, { render: "--render render-out", host: "--host alice.shop.dev.example.com", calls: "--calls api,catalog" }, FIX));
    }
    const calls = values.calls.split(",").map((c) => c.trim()).filter((c) => c !== "");
    const bad = calls.find((c) => !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)?$/.test(c));
    if (bad !== undefined) throw inputError("--calls", bad, "is not a service name", "write name or name.namespace, e.g. api or api.shop");
    const target = parseHost(values.host);
    const pathValue = values.path ?? target.path ?? "/";
    if (!pathValue.startsWith("/")) throw inputError("--path", pathValue, "does not start with /", "write e.g. --path /cart");
    const headers = parseHeaders(values.header ?? []);
    const objects = readObjects(values.render);
    const headerName = values["header-name"] ?? headerNameOf(values.render) ?? DEFAULTS.headerName;

    const result = explainRequest(objects, { host: target.host, path: pathValue, headers, calls }, { headerName });
    io.stdout(values.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatExplanation(result, { headerName, width: WIDTH })}\n`);
    return result.problems.length === 0 ? 0 : 1;
  } catch (err) {
    io.stderr(`explain: ${err instanceof InputError ? err.message : `internal error: ${oneLine(err)}`}\n`);
    return 2;
  }
}

/**
 * `--verify`: every mesh hop of the render (render/meshCheck.ts) against istiod's routes, through
 * the e2e tier's istio-routes tool (built by e2e/build.sh into its cache, once).
 */
function verify(dir: string | undefined, headerFlag: string | undefined, io: Io): number {
  if (dir === undefined) throw new InputError(missingRequiredMessage(["render"], { render: "--render render-out" }, FIX));
  const objects = readObjects(dir);
  const headerName = headerFlag ?? headerNameOf(dir) ?? DEFAULTS.headerName;
  const root = path.join(__dirname, "..");
  io.stderr("explain: --verify: finding the istio-routes tool (e2e/build.sh builds it from Go modules the first time, for some minutes)\n");
  const built = spawnSync("bash", [path.join(root, "e2e", "build.sh"), "istio-routes"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const tool = /^istio-routes=(.+)$/m.exec(built.stdout ?? "")?.[1];
  if (built.status !== 0 || tool === undefined) {
    throw new InputError(`--verify: e2e/build.sh istio-routes failed (exit ${built.status ?? built.error?.message}); it needs Go (${"https://go.dev/doc/install"}) and its module proxy`);
  }
  const requests = meshRequests(objects, headerName);
  const result = compareAnswers(objects, requests, runIstioRoutes(path.join(tool, "istio-routes"), objects, requests));
  for (const d of result.disagreements) io.stdout(`disagree: ${formatDisagreement(d)}\n`);
  for (const s of result.skipped) io.stdout(`left out: ${s.request.id}: ${s.why}\n`);
  io.stdout(`verify: ${result.compared} (request, hop) pairs compared with istiod, ${result.disagreements.length} disagreements\n`);
  return result.disagreements.length === 0 ? 0 : 1;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2), { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) });
}
