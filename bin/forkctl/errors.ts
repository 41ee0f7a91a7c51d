/**
 * A Pulumi failure reduced to the lines a person needs. The Automation API reports every CLI
 * failure as a CommandError whose message starts `code: -2` and carries the whole command output
 * (`stdout:`, `stderr:`, `err?:`); forkctl prints instead what went wrong — the engine's
 * diagnostics, or the known cause (no CLI, not logged in, no passphrase, a missing plugin) with
 * its fix — in one line, or a few when the engine reports several distinct errors.
 */
import { oneLine } from "../../components/errors";

/** Known causes: the Pulumi line that names them, what it means, and the fix. */
const CAUSES: readonly { readonly match: RegExp; readonly what: string; readonly fix: string }[] = [
  {
    match: /spawn \S*pulumi\S* ENOENT|Command failed with ENOENT: pulumi\b/,
    what: "the Pulumi CLI is not on PATH",
    fix: "install it (https://www.pulumi.com/docs/iac/download-install/) or put its folder on PATH",
  },
  {
    match: /PULUMI_ACCESS_TOKEN must be set for login|not logged in|no credentials|you must log in/i,
    what: "not logged in to a Pulumi backend",
    fix: "set PULUMI_ACCESS_TOKEN for Pulumi Cloud, or PULUMI_BACKEND_URL (s3://…, file://…) for a self-managed backend, or run pulumi login",
  },
  {
    match: /passphrase must be set with PULUMI_CONFIG_PASSPHRASE/,
    what: "no passphrase for the stack's secrets",
    fix: "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) as for pulumi itself",
  },
  {
    match: /incorrect passphrase/,
    what: "the passphrase does not open this stack's secrets",
    fix: "set PULUMI_CONFIG_PASSPHRASE to the one the stacks of this backend were created with",
  },
  {
    match: /no language plugin '?pulumi-language-nodejs'?|failed to load language plugin nodejs/,
    what: "the Pulumi Node.js language plugin is missing",
    fix: "install the Pulumi CLI from its release archive (it ships pulumi-language-nodejs next to pulumi) or put pulumi-language-nodejs on PATH",
  },
  {
    match: /no resource plugin '?pulumi-resource-[\w-]+'?|could not find plugin for resource|failed to load plugin .*resource/,
    what: "a resource provider plugin is missing",
    fix: "run pulumi plugin install (or unset PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION) so that the provider can be fetched",
  },
];

/** Lines that say an update failed without saying why. */
const UNINFORMATIVE = /^(update|preview|destroy|refresh) failed$|^\d+ errors? occurred|^one or more errors occurred/i;

const clean = (line: string) => line.replace(/\u001b\[[0-9;]*m/g, "").trim();

/** The `error:` lines of the engine's Diagnostics section, each once, in order. */
function diagnostics(text: string): string[] {
  const out: string[] = [];
  let inDiagnostics = false;
  for (const raw of text.split("\n")) {
    const line = clean(raw);
    if (/^Diagnostics:$/.test(line)) {
      inDiagnostics = true;
      continue;
    }
    if (inDiagnostics && /^(Outputs|Resources|Duration|Permalink):/.test(line)) inDiagnostics = false;
    if (!inDiagnostics) continue;
    const m = /^error: (.*)$/.exec(line);
    if (m && !UNINFORMATIVE.test(m[1]) && !out.includes(m[1])) out.push(m[1]);
  }
  return out;
}

/** Is this an Automation API CommandError (or anything carrying the CLI's output)? */
function commandText(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  if (err.name === "CommandError" || /^code: -?\d+\n/.test(err.message)) return err.message;
  return undefined;
}

/** At most this many distinct engine errors are shown; the rest are counted. */
const MAX_LINES = 3;

/**
 * What went wrong, in one line (or up to three for several distinct engine errors): for a Pulumi
 * failure, its cause and fix; for anything else, the error's first line.
 */
export function failureLines(err: unknown): string[] {
  const text = commandText(err);
  if (text === undefined) return [oneLine(err)];
  const lines = text.split("\n").map(clean);
  for (const cause of CAUSES) {
    // The CLI's own line rather than the Automation API's `Command failed with …` wrapper.
    const line = lines.find((l) => cause.match.test(l) && !/Command failed/.test(l)) ?? lines.find((l) => cause.match.test(l));
    if (line !== undefined) return [`${cause.what} (${line.replace(/^(stdout|stderr|error|err\?): (Error: )?/, "")}); ${cause.fix}`];
  }
  const diags = diagnostics(text);
  if (diags.length > 0) {
    const shown = diags.slice(0, MAX_LINES);
    if (diags.length > MAX_LINES) shown.push(`and ${diags.length - MAX_LINES} more errors: run pulumi up --stack <id> to see them all`);
    return shown;
  }
  // No diagnostics: the CLI's own `error:` line (a failure before the engine ran).
  const errorLines = lines.map((l) => /^error: (.*)$/.exec(l)?.[1]).filter((l): l is string => l !== undefined && !UNINFORMATIVE.test(l));
  if (errorLines.length > 0) return [errorLines[0]];
  const stderr = /\n stderr: ([^\n]+)/.exec(text)?.[1];
  return [stderr ? clean(stderr) : oneLine(err)];
}

/**
 * The first line of failureLines, for a one-line record (gc, the fork's error tag), in at most `max`
 * characters: a known cause longer than that drops the CLI's own words in parentheses and keeps
 * what went wrong and the fix; anything else still longer is cut, ending in "…".
 */
export function failureLine(err: unknown, max = Infinity): string {
  const line = failureLines(err)[0];
  if (line.length <= max) return line;
  const cause = CAUSES.find((c) => line.startsWith(`${c.what} (`) && line.endsWith(`); ${c.fix}`));
  const short = cause ? `${cause.what}; ${cause.fix}` : line;
  return short.length <= max ? short : `${short.slice(0, max - 1)}…`;
}
