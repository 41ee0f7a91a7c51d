import * as pulumi from "@pulumi/pulumi";
import { ForkConfig } from "./config";

/** Placeholder until issue #3 lands: builds a fork stack from its validated config. */
export async function forkProgram(_args: { fork: ForkConfig; baseStack: string; now: Date }): Promise<Record<string, unknown>> {
  throw new pulumi.RunError("fork stacks are not built yet (issue #3)");
}
