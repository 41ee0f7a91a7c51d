/**
 * The plain shape of a Kubernetes object as the API server returns it, shared by the components,
 * the plan, the live client and the offline render (which imports it from here, never the reverse).
 */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}
