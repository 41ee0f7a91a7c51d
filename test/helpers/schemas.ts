/**
 * Validates objects against real published schemas: `kubernetes-models` for Kubernetes kinds and
 * `@kubernetes-models/istio` for Istio kinds. Throws with the kind, name and the schema's message.
 *
 * `@kubernetes-models/istio` 2.x (the last CommonJS release) ships the v1beta1 schemas; Istio serves
 * networking.istio.io v1, v1beta1 and v1alpha3 from one CRD with the same schema for each version
 * (https://istio.io/latest/docs/reference/config/networking/virtual-service/), so v1 objects are
 * checked against it.
 */
import * as apps from "kubernetes-models/apps/v1";
import * as core from "kubernetes-models/v1";
import * as autoscaling from "kubernetes-models/autoscaling/v2";
import * as policy from "kubernetes-models/policy/v1";
import * as networking from "kubernetes-models/networking.k8s.io/v1";
import * as admission from "kubernetes-models/admissionregistration.k8s.io/v1";
import * as rbac from "kubernetes-models/rbac.authorization.k8s.io/v1";
import * as coordination from "kubernetes-models/coordination.k8s.io/v1";
import * as istio from "@kubernetes-models/istio/networking.istio.io/v1beta1";

type Model = new (data: any) => { validate(): void };

const MODELS: Record<string, Model> = {
  "v1/Service": core.Service,
  "v1/Namespace": core.Namespace,
  "v1/ConfigMap": core.ConfigMap,
  "v1/Secret": core.Secret,
  "v1/ServiceAccount": core.ServiceAccount,
  "apps/v1/Deployment": apps.Deployment,
  "autoscaling/v2/HorizontalPodAutoscaler": autoscaling.HorizontalPodAutoscaler,
  "policy/v1/PodDisruptionBudget": policy.PodDisruptionBudget,
  "networking.k8s.io/v1/NetworkPolicy": networking.NetworkPolicy,
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy": admission.ValidatingAdmissionPolicy,
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding": admission.ValidatingAdmissionPolicyBinding,
  "rbac.authorization.k8s.io/v1/ClusterRole": rbac.ClusterRole,
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": rbac.ClusterRoleBinding,
  "rbac.authorization.k8s.io/v1/Role": rbac.Role,
  "rbac.authorization.k8s.io/v1/RoleBinding": rbac.RoleBinding,
  "coordination.k8s.io/v1/Lease": coordination.Lease,
  "networking.istio.io/VirtualService": istio.VirtualService,
  "networking.istio.io/DestinationRule": istio.DestinationRule,
  "networking.istio.io/Gateway": istio.Gateway,
};

/** Whether this helper knows a schema for the object's kind. */
export function hasSchema(obj: { apiVersion: string; kind: string }): boolean {
  return modelFor(obj) !== undefined;
}

function modelFor(obj: { apiVersion: string; kind: string }): Model | undefined {
  if (obj.apiVersion.startsWith("networking.istio.io/")) return MODELS[`networking.istio.io/${obj.kind}`];
  return MODELS[`${obj.apiVersion}/${obj.kind}`];
}

/** Throws when the object does not validate against its kind's published schema. */
export function validateAgainstSchema(obj: any): void {
  const model = modelFor(obj);
  if (model === undefined) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
  const data = obj.apiVersion.startsWith("networking.istio.io/") ? { ...obj, apiVersion: "networking.istio.io/v1beta1" } : obj;
  try {
    new model(data).validate();
  } catch (err) {
    throw new Error(`${obj.kind} ${obj.metadata?.namespace ?? ""}/${obj.metadata?.name}: ${(err as Error).message}`);
  }
}
