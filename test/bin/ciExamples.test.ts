/** The CI examples call forkctl the way forkctl parses, and are wired as their README says. */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { parse } from "../../bin/forkctl/cli";

const dir = path.join(__dirname, "..", "..", "examples", "ci");
const load = (file: string) => YAML.parse(fs.readFileSync(path.join(dir, file), "utf8"));

const SAMPLE: Record<string, string> = {
  FORK_ID: "pr-12",
  IMAGE: "registry.example.com/shop/api:pr-12-abc",
  RUNNER_TEMP: "/tmp",
  CI_MERGE_REQUEST_IID: "12",
};

/** Every `npx forkctl …` command line of a workflow, variables filled in, quotes and redirects removed. */
function forkctlCalls(doc: unknown): string[][] {
  const scripts: string[] = [];
  const visit = (v: unknown) => {
    if (typeof v === "string") scripts.push(...v.split(/\n|&&/));
    else if (Array.isArray(v)) v.forEach(visit);
    else if (v !== null && typeof v === "object") Object.values(v).forEach(visit);
  };
  visit(doc);
  return scripts
    .map((line) => line.trim())
    .filter((line) => line.startsWith("npx forkctl") || line.startsWith("- npx forkctl"))
    .map((line) =>
      line
        .replace(/^- /, "")
        .replace(/\s>\s?\S+.*$/, "")
        .replace(/\$\{?([A-Z_]+)\}?/g, (_, name: string) => SAMPLE[name] ?? `\${${name}}`)
        .replace(/"/g, "")
        .split(/\s+/)
        .slice(2),
    );
}

describe.each(["github-actions.yml", "gitlab-ci.yml"])("%s", (file) => {
  const calls = forkctlCalls(load(file));

  it("runs forkctl up, down and gc", () => {
    expect(calls.map((c) => c[0]).sort()).toEqual(["down", "gc", "up"]);
  });

  it("passes forkctl only arguments it accepts", () => {
    for (const argv of calls) {
      expect(() => parse(argv, { FORKSTACK_BASE: "organization/forkstack/dev" })).not.toThrow();
    }
  });
});

describe("GitHub Actions", () => {
  const wf = load("github-actions.yml");

  it("keeps one update per pull request at a time, never cancelling a running one", () => {
    expect(wf.concurrency).toEqual({ group: "forkstack-${{ github.event.pull_request.number || 'gc' }}", "cancel-in-progress": false });
  });

  it("updates one comment found by forkctl's marker instead of adding one per push", () => {
    const script = wf.jobs.up.steps.find((s: { uses?: string }) => s.uses?.startsWith("actions/github-script")).with.script as string;
    expect(script).toContain("updateComment");
    expect(script).toContain('body.split("\\n")[0]');
  });

  it("destroys on close and collects expired forks nightly", () => {
    expect(wf.jobs.down.if).toContain("github.event.action == 'closed'");
    expect(wf.jobs.gc.if).toBe("github.event_name == 'schedule'");
    expect(wf.on.schedule).toHaveLength(1);
  });
});

describe("GitLab CI", () => {
  const ci = load("gitlab-ci.yml");

  it("is a review environment with the fork's URL, a stop job and an automatic stop", () => {
    expect(ci["fork:up"].environment).toEqual({ name: "review/mr-$CI_MERGE_REQUEST_IID", url: "$FORK_URL", on_stop: "fork:down", auto_stop_in: "3 days" });
    expect(ci["fork:down"].environment).toEqual({ name: "review/mr-$CI_MERGE_REQUEST_IID", action: "stop" });
  });
});
