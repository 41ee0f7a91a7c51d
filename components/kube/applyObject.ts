/**
 * Registers a Kubernetes object given as plain data (a built-in kind or a CRD, namespaced or
 * cluster-scoped) as a Pulumi resource: the one way components turn the plain objects their pure
 * builders return into resources.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { KubeObject } from "./objects";

export function applyObject(name: string, obj: KubeObject, opts: pulumi.CustomResourceOptions): k8s.apiextensions.CustomResource {
  const { apiVersion, kind, metadata, ...rest } = obj;
  return new k8s.apiextensions.CustomResource(name, { apiVersion, kind, metadata, ...rest }, opts);
}
