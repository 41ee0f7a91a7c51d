/**
 * The forkstack program. A stack with `forkstack:fork` in its config is a fork stack (a developer's
 * or a pull request's copy-on-write view of the shared environment); any other is a base stack (the
 * shared cluster, Istio, the gateway, DNS and certificates). See README.md and ../shared/DESIGN.md.
 *
 * Config errors are thrown as `pulumi.RunError`, which the Pulumi CLI prints as one line without a
 * stack trace (https://www.pulumi.com/docs/reference/pkg/nodejs/pulumi/pulumi/classes/runerror/).
 */
import * as pulumi from "@pulumi/pulumi";
import { baseProgram } from "./components/base";
import { BASE_KEYS, CONFIG_NAMESPACE, checkNamespaces, checkTopLevelKeys, parseBaseConfig, parseBaseStack, parseForkConfig } from "./components/config";
import { ConfigError } from "./components/errors";
import { forkProgram } from "./components/forkProgram";


/** The deployment time; `FORKSTACK_NOW` (ISO 8601) pins it for reproducible renders and tests. */
function now(): Date {
  const pinned = process.env.FORKSTACK_NOW;
  if (pinned === undefined || pinned === "") return new Date();
  const date = new Date(pinned);
  if (Number.isNaN(date.getTime())) {
    throw new ConfigError("FORKSTACK_NOW", pinned, "is not a date", "use ISO 8601, e.g. 2026-11-23T10:00:00Z, or unset it");
  }
  return date;
}

function readRaw(config: pulumi.Config, keys: readonly string[]): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const k of keys) {
    const text = config.get(k);
    if (text === undefined) continue;
    try {
      raw[k] = JSON.parse(text);
    } catch {
      raw[k] = text; // a plain string value such as forkstack:domain
    }
  }
  return raw;
}

async function program(): Promise<Record<string, unknown>> {
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  try {
    // Every forkstack:* key the stack sets, known or not: an unknown one is refused, not ignored.
    const prefix = `${CONFIG_NAMESPACE}:`;
    const all = pulumi.runtime.allConfig();
    // A misspelled namespace (`forkstak:fork`) first: filtered out below, it would go unnoticed.
    checkNamespaces(Object.keys(all));
    const values = Object.fromEntries(Object.entries(all).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
    if (checkTopLevelKeys(Object.keys(values)) === "fork") {
      const rawFork = readRaw(config, ["fork", "baseStack"]);
      const fork = parseForkConfig(rawFork.fork);
      const baseStack = parseBaseStack(rawFork.baseStack);
      return await forkProgram({ fork, baseStack, now: now() });
    }
    const base = parseBaseConfig(readRaw(config, BASE_KEYS.filter((k) => k !== "kubeconfig")));
    return await baseProgram(base, { kubeconfig: config.getSecret("kubeconfig") });
  } catch (err) {
    if (err instanceof ConfigError) throw new pulumi.RunError(`stack ${pulumi.getStack()}: ${err.message}`);
    throw err;
  }
}

export = program;
