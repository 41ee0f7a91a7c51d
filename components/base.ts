import * as pulumi from "@pulumi/pulumi";
import { BaseConfig } from "./config";

/** Placeholder until issue #2 lands: builds the base stack's components and returns its outputs. */
export async function baseProgram(_config: BaseConfig, _secrets: { kubeconfig?: pulumi.Output<string> }): Promise<Record<string, unknown>> {
  throw new pulumi.RunError("the base stack is not built yet (issue #2)");
}
