/**
 * Which objects select which pods: the one place forkstack evaluates label selectors.
 *
 * - Service `spec.selector` is equality-only; an empty or missing one selects nothing (manual
 *   Endpoints) (https://kubernetes.io/docs/concepts/services-networking/service/#services-without-selectors).
 * - PodDisruptionBudget `spec.selector` (policy/v1), NetworkPolicy `spec.podSelector` and Deployment
 *   `spec.selector` are LabelSelectors: matchLabels and every matchExpression ANDed; an empty one
 *   (`{}`) selects every pod of the namespace
 *   (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#resources-that-support-set-based-requirements).
 */
import type { KubeObject } from "./objects";

export type Labels = Record<string, string>;

export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: LabelSelectorRequirement[];
}

/** Kinds whose selector sends traffic to, or governs, the pods it selects. */
export const SELECTING_KINDS = ["Service", "PodDisruptionBudget", "NetworkPolicy"] as const;

const spec = (o: KubeObject) => (o.spec ?? {}) as Record<string, any>;

/** The object's pod selector as a LabelSelector, or undefined when it selects no pods. */
export function selectorOf(o: KubeObject): LabelSelector | undefined {
  switch (o.kind) {
    case "Service": {
      const s = spec(o).selector as Labels | undefined;
      return s === undefined || s === null || Object.keys(s).length === 0 ? undefined : { matchLabels: s };
    }
    case "PodDisruptionBudget":
    case "Deployment":
      return (spec(o).selector ?? undefined) as LabelSelector | undefined;
    case "NetworkPolicy":
      return (spec(o).podSelector ?? undefined) as LabelSelector | undefined;
    default:
      return undefined;
  }
}

/** An empty LabelSelector selects every pod of its namespace. */
export function isNamespaceWide(sel: LabelSelector): boolean {
  return Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0;
}

export function selects(sel: LabelSelector, labels: Labels): boolean {
  const has = (k: string) => Object.prototype.hasOwnProperty.call(labels, k);
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const { key, operator, values = [] } of sel.matchExpressions ?? []) {
    const ok =
      operator === "In" ? has(key) && values.includes(labels[key])
      : operator === "NotIn" ? !has(key) || !values.includes(labels[key])
      : operator === "Exists" ? has(key)
      : operator === "DoesNotExist" ? !has(key)
      : false;
    if (!ok) return false;
  }
  return true;
}

/**
 * Keys a selector pins to values, each with a value it accepts: matchLabels and the keys of `In`
 * expressions. Changing the value of one of them takes a pod out of the selector; NotIn, Exists and
 * DoesNotExist cannot be escaped that way.
 */
export function pinnedLabels(sel: LabelSelector): Labels {
  const out: Labels = {};
  for (const e of sel.matchExpressions ?? []) {
    if (e.operator === "In" && (e.values ?? []).length > 0) out[e.key] = e.values![0];
  }
  return { ...out, ...(sel.matchLabels ?? {}) };
}

const ref = (o: KubeObject) => `${o.kind} ${o.metadata.namespace ?? "default"}/${o.metadata.name}`;
export { ref as objectRef };

/**
 * Services, PodDisruptionBudgets and NetworkPolicies of `namespace` whose selector matches `labels`
 * (namespace-wide `{}` selectors excluded: they govern every pod alike, forks included).
 */
export function selecting(objects: readonly KubeObject[], namespace: string, labels: Labels): KubeObject[] {
  return objects.filter((o) => {
    if (!(SELECTING_KINDS as readonly string[]).includes(o.kind) || (o.metadata.namespace ?? "default") !== namespace) return false;
    const sel = selectorOf(o);
    return sel !== undefined && !isNamespaceWide(sel) && selects(sel, labels);
  });
}
