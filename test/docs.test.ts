/**
 * README.md's tables against the code, both ways: a config key, output, component or CLI flag that
 * exists in the code but not in README.md fails here, and so does one README.md names that the
 * code does not have. The code side is read from the code itself: the config parser's key lists,
 * the outputs the real program returns (rendered offline from examples/), the ComponentResource
 * classes in components/, and each CLI's flag table (the one parseArgs parses and --help prints).
 * Each failure is a list of sentences naming the key and the README.md section. The config table of
 * "Refusals you may meet" is checked against the messages the config parser gives for each row.
 */
import * as fs from "fs";
import * as path from "path";
import { FlagTable, flagSyntax } from "../render/args";
import { FLAGS as RENDER_FLAGS } from "../render/cli";
import { FLAGS as EXPLAIN_FLAGS } from "../render/explainCli";
import { FLAGS as DEMO_FLAGS } from "../render/demo";
import { COMMANDS, FLAGS as FORKCTL_FLAGS } from "../bin/forkctl/cli";
import { BASE_KEYS, checkNamespaces, checkTopLevelKeys, FORK_KEYS, NESTED_KEYS, parseBaseConfig, parseForkConfig } from "../components/config";
import { forkMapping } from "../components/mappings";
import { renderStacks } from "../render/render";
import { configErrorOf } from "./helpers/configError";

const ROOT = path.resolve(__dirname, "..");
/** README.md and docs/*.md, read as one text: the tables live in docs/ pages the README links. */
const README = [path.join(ROOT, "README.md"), ...fs.readdirSync(path.join(ROOT, "docs")).filter((f) => f.endsWith(".md")).sort().map((f) => path.join(ROOT, "docs", f))]
  .map((f) => fs.readFileSync(f, "utf8"))
  .join("\n");

/** A table cell as plain text: code spans unwrapped, `\|` unescaped. */
const plain = (cell: string) => cell.trim().replace(/\\\|/g, "|").replace(/`/g, "");

/** The rows (cells, header and separator left out) of the first table under the heading `heading`. */
export function tableUnder(markdown: string, heading: string): string[][] {
  const lines = markdown.split("\n");
  const start = lines.findIndex((l) => /^#{1,4} /.test(l) && l.replace(/^#+ /, "") === heading);
  if (start < 0) throw new Error(`README.md has no heading "${heading}"`);
  const rows: string[][] = [];
  for (let i = start + 1; i < lines.length && !/^#{1,4} /.test(lines[i]); i++) {
    if (!lines[i].startsWith("|")) {
      if (rows.length > 0) break;
      continue;
    }
    rows.push(lines[i].replace(/^\||\|$/g, "").split(/(?<!\\)\|/).map(plain));
  }
  if (rows.length < 2) throw new Error(`README.md has no table under "${heading}"`);
  return rows.slice(2);
}

/** "README.md (section) lacks X, which <code> has" / "README.md (section) names X, which <code> does not have". */
function twoWay(section: string, code: string, inCode: readonly string[], inReadme: readonly string[]): string[] {
  return [
    ...inCode.filter((k) => !inReadme.includes(k)).map((k) => `README.md ("${section}") lacks ${k}, which ${code} has`),
    ...inReadme.filter((k) => !inCode.includes(k)).map((k) => `README.md ("${section}") names ${k}, which ${code} does not have`),
  ];
}

describe("README.md: config keys", () => {
  const rows = tableUnder(README, "Config keys");
  const documented = rows.map((r) => r[0]);

  it("lists every key the config parser knows, and no other", () => {
    const nested = Object.entries(NESTED_KEYS).flatMap(([shape, keys]) => keys.map((k) => `${shape}.${k}`));
    const keys = [...BASE_KEYS, ...FORK_KEYS, ...nested].map((k) => `forkstack:${k}`);
    expect(twoWay("Config keys", "components/config/keys.ts (BASE_KEYS, FORK_KEYS, NESTED_KEYS)", keys, documented)).toEqual([]);
  });

  it("says of each key whether base or fork stacks set it, as the parser decides", () => {
    const kindOf = (key: string) => ((FORK_KEYS as readonly string[]).includes(key.replace(/^forkstack:/, "").split(/[.[]/)[0]) ? "fork" : "base");
    const wrong = rows.filter((r) => r[1] !== kindOf(r[0])).map((r) => `README.md ("Config keys") says ${r[0]} is a ${r[1]} key; components/config/keys.ts makes it a ${kindOf(r[0])} key`);
    expect(wrong).toEqual([]);
  });
});

describe("README.md: components", () => {
  /** Every ComponentResource class in components/, with its file relative to components/. */
  function componentClasses(dir = path.join(ROOT, "components")): { name: string; file: string }[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) return componentClasses(full);
      if (!e.name.endsWith(".ts")) return [];
      const source = fs.readFileSync(full, "utf8");
      return [...source.matchAll(/class (\w+) extends pulumi\.ComponentResource\b/g)].map((m) => ({ name: m[1], file: path.relative(path.join(ROOT, "components"), full) }));
    });
  }

  const rows = [...tableUnder(README, "Base stack (infra team)"), ...tableUnder(README, "What a fork stack registers")];
  const named = rows.flatMap((r) => [...r[0].matchAll(/\b([A-Z][A-Za-z]+)\b/g)].map((m) => m[1]));

  it("has a row for every ComponentResource in components/, and no other", () => {
    expect(twoWay("Base stack (infra team) / What a fork stack registers", "components/", componentClasses().map((c) => c.name), named)).toEqual([]);
  });

  it("names each component's file in its row", () => {
    const wrong = componentClasses()
      .filter((c) => !rows.some((r) => r[0].includes(c.name) && r[0].includes(c.file)))
      .map((c) => `README.md's row of ${c.name} does not name its file ${c.file}`);
    expect(wrong).toEqual([]);
  });

  it("finds components in the source (the scan works)", () => {
    expect(componentClasses().map((c) => c.name)).toContain("ForkStack");
  });
});

// The outputs the real program (index.ts) returns, rendered offline from examples/: a base stack and a fork.
describe("README.md: stack outputs", () => {
  let outputs: { base: string[]; fork: string[] };
  beforeAll(async () => {
    const examples = path.join(ROOT, "examples");
    const render = await renderStacks({ stacks: ["dev", "alice"], configDir: examples, clusterFiles: [path.join(examples, "cluster/shop.yaml")] });
    outputs = { base: Object.keys(render.results[0].outputs), fork: Object.keys(render.results[1].outputs) };
  }, 300_000);

  it("lists every output of a base stack, and no other", () => {
    const documented = tableUnder(README, "Base stack outputs (the contract fork stacks read)").map((r) => r[0]);
    expect(twoWay("Base stack outputs", "a base stack (index.ts → components/base.ts)", outputs.base, documented)).toEqual([]);
  });

  it("lists every output of a fork stack, and no other", () => {
    const documented = tableUnder(README, "Fork stack outputs").map((r) => r[0]);
    expect(twoWay("Fork stack outputs", "a fork stack (index.ts → components/forkProgram.ts)", outputs.fork, documented)).toEqual([]);
  });
});

describe("README.md: command-line flags", () => {
  /** README rows of a CLI's table against its flag table: names both ways, then default and text of each. */
  function check(section: string, cli: string, table: FlagTable, rows: string[][], cells: (r: string[]) => { def: string; help: string }): string[] {
    const syntax = Object.entries(table).map(([n, f]) => flagSyntax(n, f));
    const problems = twoWay(section, cli, syntax, rows.map((r) => r[0]));
    for (const [name, flag] of Object.entries(table)) {
      const row = rows.find((r) => r[0] === flagSyntax(name, flag));
      if (row === undefined) continue;
      const { def, help } = cells(row);
      if (def !== flag.ifOmitted) problems.push(`README.md ("${section}") gives --${name} the default "${def}"; ${cli} says "${flag.ifOmitted}"`);
      if (help !== flag.help) problems.push(`README.md ("${section}") describes --${name} as "${help}"; ${cli} says "${flag.help}"`);
    }
    return problems;
  }

  it.each([
    ["`npm run render`", "render/cli.ts FLAGS", RENDER_FLAGS],
    ["`npm run explain`", "render/explainCli.ts FLAGS", EXPLAIN_FLAGS],
    ["`npm run demo`", "render/demo.ts FLAGS", DEMO_FLAGS],
  ] as const)("%s: every flag with its default, as %s has them", (section, cli, table) => {
    expect(check(section, cli, table, tableUnder(README, section), (r) => ({ def: r[1], help: r[2] }))).toEqual([]);
  });

  it("forkctl: every flag with its commands and default, as bin/forkctl/cli.ts has them", () => {
    const rows = tableUnder(README, "`forkctl`");
    const problems = check("forkctl", "bin/forkctl/cli.ts FLAGS", FORKCTL_FLAGS, rows, (r) => ({ def: r[2], help: r[3] }));
    for (const [name, flag] of Object.entries(FORKCTL_FLAGS)) {
      const row = rows.find((r) => r[0] === flagSyntax(name, flag));
      const commands = Object.entries(COMMANDS).filter(([, c]) => (c.flags as readonly string[]).includes(name)).map(([c]) => c);
      const expected = name === "help" ? "all" : commands.join(", ");
      if (row !== undefined && row[1] !== expected) problems.push(`README.md ("forkctl") says --${name} is for ${row[1]}; bin/forkctl/cli.ts COMMANDS say ${expected}`);
    }
    expect(problems).toEqual([]);
  });
});

describe("README.md: refusals you may meet (config)", () => {
  const base = { domain: "dev.example.com", cluster: { mode: "kubeconfig" }, upstreams: [{ host: "shop.dev.example.com", service: "frontend.shop:80" }] };
  const fork = (over: Record<string, unknown> = {}) => ({ id: "alice", services: [{ name: "api", namespace: "shop" }], ...over });
  const svc = (over: Record<string, unknown>) => fork({ services: [{ name: "api", namespace: "shop", ...over }] });
  const eks = (over: Record<string, unknown>) => ({ ...base, cluster: { mode: "eks", eks: over } });
  const withHeader = (name: string) => () =>
    forkMapping({
      upstream: { host: "shop.dev.example.com", service: { name: "frontend", namespace: "shop", port: 80 } },
      forkId: "alice",
      headers: { [name]: "bob" },
      target: { name: "frontend", namespace: "shop", port: 80 },
      scheme: "subdomain",
      ctx: { ambassadorId: "fork-proxy-ambassador", namespace: "emissary", headerName: "x-fork-identifier" },
    });
  /** What each row's "you wrote" describes, in README order, as the calls that refuse it. */
  const ROWS: Array<[string, Array<() => unknown>]> = [
    ["imgae", [() => parseForkConfig(svc({ imgae: "registry.example.com/shop/api:1" }))]],
    ["forkstak:fork", [() => checkNamespaces(["forkstak:fork", "forkstack:baseStack"])]],
    ["forkstack:headerName", [() => checkTopLevelKeys(["fork", "baseStack", "headerName"])]],
    ["VERSION: 1.10", [() => parseForkConfig(svc({ env: { VERSION: 1.1 } }))]],
    ["id: 123", [() => parseForkConfig(fork({ id: 123 }))]],
    ["replicas: 500", [() => parseForkConfig(svc({ replicas: 500 })), () => parseForkConfig(svc({ replicas: "2" }))]],
    [
      ":authority",
      [
        () => parseForkConfig(fork({ headers: { host: "x" } })),
        () => parseForkConfig(fork({ headers: { connection: "x" } })),
        () => parseForkConfig(fork({ headers: { ":authority": "x" } })),
        () => parseForkConfig(fork({ headers: { "X-Flags": "x" } })),
        withHeader("x-fork-identifier"),
      ],
    ],
    ["CR/LF/NUL", [() => parseForkConfig(fork({ headers: { "x-a": "a\r\nb" } })), () => parseForkConfig(fork({ headers: { "x-a": "a".repeat(1025) } }))]],
    [
      "vpcCidr: 10.0.0/16",
      [() => parseBaseConfig({ ...base, cluster: { mode: "eks", eks: { vpcCidr: "10.0.0/16" } } }), () => parseBaseConfig({ ...base, cluster: { mode: "eks", eks: { zones: 9 } } })],
    ],
    ["vpcCidr: 10.0.0.0/8", [() => parseBaseConfig(eks({ vpcCidr: "10.0.0.0/8" })), () => parseBaseConfig(eks({ vpcCidr: "10.0.0.0/26" }))]],
    ["instanceType: large", [() => parseBaseConfig(eks({ instanceType: "large" })), () => parseBaseConfig(eks({ instanceType: "t3.Large" }))]],
    ["version: 1.35.2", [() => parseBaseConfig(eks({ version: "1.35.2" })), () => parseBaseConfig(eks({ version: "latest" }))]],
    ["headerName: host", [() => parseBaseConfig({ ...base, headerName: "host" }), () => parseBaseConfig({ ...base, headerName: "connection" })]],
    ["env value over", [() => parseForkConfig(svc({ env: { CERT: "a".repeat(32_769) } })), () => parseForkConfig(svc({ env: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`P${i}`, "a".repeat(32_768)])) }))]],
    ["ttl: 36500d", [() => parseForkConfig(fork({ ttl: "36500d" }))]],
  ];
  /** A "forkstack says" alternative as a pattern: `…` stands for any text, a lone `N` for a number. */
  const pattern = (said: string) =>
    new RegExp(
      said
        .split("…")
        .map((part) => part.trim().replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\bN\b/g, "\\d+"))
        .join(".*"),
    );

  it("has one row per refusal this test provokes, in the same order", () => {
    expect(tableUnder(README, "Refusals you may meet").map((row) => ROWS.findIndex(([mark]) => row[0].includes(mark)))).toEqual(ROWS.map((_, i) => i));
  });

  it("quotes what forkstack says: every alternative of a row is in the message of one of its cases", () => {
    const problems: string[] = [];
    tableUnder(README, "Refusals you may meet").forEach((row, i) => {
      const messages = (ROWS[i]?.[1] ?? []).map((fn) => configErrorOf(fn).message);
      for (const said of row[1].split(" / ")) {
        if (!messages.some((m) => pattern(said).test(m))) problems.push(`README.md ("Refusals you may meet", ${row[0]}) says "${said}"; forkstack says ${JSON.stringify(messages)}`);
      }
    });
    expect(problems).toEqual([]);
  });
});

describe("tableUnder (the README reader these checks rest on)", () => {
  const md = "## A\n\ntext\n\n| k | v |\n|---|---|\n| `a` | x \\| y |\n| `b` | z |\n\n## B\n| k |\n|---|\n| c |\n";

  it("reads the first table under a heading, code spans unwrapped and \\| unescaped", () => {
    expect(tableUnder(md, "A")).toEqual([["a", "x | y"], ["b", "z"]]);
  });

  it("fails naming a heading that is not there", () => {
    expect(() => tableUnder(md, "C")).toThrow('README.md has no heading "C"');
  });
});

describe("README.md and docs/: links", () => {
  it("every relative link points at a file of the repository", () => {
    const files = ["README.md", ...fs.readdirSync(path.join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
    const broken = files.flatMap((f) => {
      const text = fs.readFileSync(path.join(ROOT, f), "utf8").replace(/```[\s\S]*?```/g, "");
      return [...text.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)]
        .map((m) => m[1].split("#")[0])
        .filter((t) => t !== "" && !/^(https?:|mailto:)/.test(t))
        .filter((t) => !fs.existsSync(path.resolve(ROOT, path.dirname(f), t)))
        .map((t) => `${f} → ${t}`);
    });
    expect(broken).toEqual([]);
  });
});
