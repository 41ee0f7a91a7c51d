/**
 * A Pulumi failure as forkctl prints it: the Automation API's `code: -2` CommandError reduced to
 * its cause and fix in one line. The messages are what the Pulumi CLI v3.276.0 and the Automation
 * API of @pulumi/pulumi 3.276.0 produced for each failure (captured on a file:// backend).
 */
import { failureLine, failureLines } from "../../bin/forkctl/errors";

/** An Automation API CommandError as it reaches forkctl. */
function commandError(stderr: string): Error {
  const err = new Error(`code: -2\n stdout: \n stderr: ${stderr}\n err?: Error: ${stderr}\n`);
  err.name = "CommandError";
  return err;
}
const PULUMI = "/root/.cache/forkstack/e2e/pulumi-3ff4d7a5be387329/bin/pulumi";

describe("a Pulumi failure, reduced to its cause", () => {
  it.each([
    [
      "no Pulumi CLI on PATH",
      "Command failed with ENOENT: pulumi version\nspawn pulumi ENOENT",
      /^the Pulumi CLI is not on PATH \(spawn pulumi ENOENT\); install it .* or put its folder on PATH$/,
    ],
    [
      "not logged in",
      `Command failed with exit code 3: ${PULUMI} stack select --stack a --non-interactive\nerror: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions`,
      /^not logged in to a Pulumi backend \(PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions\); set PULUMI_ACCESS_TOKEN .*PULUMI_BACKEND_URL/,
    ],
    [
      "no passphrase",
      `Command failed with exit code 1: ${PULUMI} stack init b --non-interactive\nerror: could not create secrets manager for new stack: passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables`,
      /^no passphrase for the stack's secrets \(could not create secrets manager .*\); set PULUMI_CONFIG_PASSPHRASE/,
    ],
    [
      "a wrong passphrase",
      `Command failed with exit code 1: ${PULUMI} up --yes --skip-preview --exec-kind auto.local --stack d --non-interactive\nerror: getting stack configuration: get stack secrets manager: incorrect passphrase`,
      /^the passphrase does not open this stack's secrets \(getting stack configuration: .*incorrect passphrase\); set PULUMI_CONFIG_PASSPHRASE/,
    ],
    [
      "the Node.js language plugin missing",
      `Command failed with exit code 1: ${PULUMI} up --yes --skip-preview --exec-kind auto.local --stack d --non-interactive\nerror: failed to load language plugin nodejs: no language plugin 'pulumi-language-nodejs' found in the workspace or on your $PATH\nUpdating (d):`,
      /^the Pulumi Node\.js language plugin is missing \(failed to load language plugin nodejs: .*\); install the Pulumi CLI from its release archive/,
    ],
    [
      "the program's refusal (the engine's diagnostics, each once)",
      `Command failed with exit code 1: ${PULUMI} up --yes --skip-preview --stack x --non-interactive\nUpdating (x):\n\n    pulumi:pulumi:Stack forkstack-x running error: forkstack:fork.services[0].name: "nope.shop" is not a Service in the shared cluster; check the name\n    pulumi:pulumi:Stack forkstack-x **failed** 1 error\nDiagnostics:\n  pulumi:pulumi:Stack (forkstack-x):\n    error: forkstack:fork.services[0].name: "nope.shop" is not a Service in the shared cluster; check the name\n    error: forkstack:fork.services[0].name: "nope.shop" is not a Service in the shared cluster; check the name\n\nOutputs:\n    forkId: "x"\n\nResources:\n    1 unchanged\n    1 errored\n\nDuration: 1s`,
      /^forkstack:fork\.services\[0\]\.name: "nope\.shop" is not a Service in the shared cluster; check the name$/,
    ],
  ])("%s", (_what, stderr, line) => {
    const lines = failureLines(commandError(stderr));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(line);
    expect(lines[0]).not.toMatch(/code: -2|Command failed/);
  });

  it("keeps distinct engine errors (a few), each once, without 'update failed'", () => {
    const stderr = `Command failed with exit code 1: ${PULUMI} up\nDiagnostics:\n  kubernetes:apps/v1:Deployment (api-x):\n    error: deployments.apps "api-x" is forbidden: User "ci" cannot create resource\n  pulumi:pulumi:Stack (forkstack-x):\n    error: update failed\n  kubernetes:core/v1:Service (api-x):\n    error: services "api-x" is forbidden: User "ci" cannot create resource\n\nResources:\n    2 errored`;
    expect(failureLines(commandError(stderr))).toEqual([
      'deployments.apps "api-x" is forbidden: User "ci" cannot create resource',
      'services "api-x" is forbidden: User "ci" cannot create resource',
    ]);
  });

  it("leaves any other error as its first line", () => {
    expect(failureLines(new Error("stack pr-5 is still locked by another update after 4 tries\nmore"))).toEqual(["stack pr-5 is still locked by another update after 4 tries"]);
  });

  describe("in a record of at most 256 characters (a fork's error tag)", () => {
    const plugin = commandError(
      `Command failed with exit code 1: ${PULUMI} up --yes --stack d --non-interactive\nerror: failed to load language plugin nodejs: no language plugin 'pulumi-language-nodejs' found in the workspace or on your $PATH`,
    );

    it("a known cause too long for it keeps what went wrong and the fix, without the CLI's words", () => {
      expect(failureLine(plugin).length).toBeGreaterThan(256);
      expect(failureLine(plugin, 256)).toBe(
        "the Pulumi Node.js language plugin is missing; install the Pulumi CLI from its release archive (it ships pulumi-language-nodejs next to pulumi) or put pulumi-language-nodejs on PATH",
      );
    });

    it("a line that fits is kept whole, and any other too long is cut with an ellipsis", () => {
      expect(failureLine(new Error("stack pr-5 is locked"), 256)).toBe("stack pr-5 is locked");
      const long = failureLine(new Error(`forkstack:fork.services[0].image: ${"x".repeat(300)}`), 256);
      expect([long.length, long.endsWith("x…")]).toEqual([256, true]);
    });
  });
});
