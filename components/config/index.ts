/**
 * The stack configuration contract (see ../shared/DESIGN.md, "Contracts"), parsed and validated as
 * plain data. Every function here is pure: it takes what `pulumi.Config` (or a YAML file, in the
 * offline render) holds and returns typed values with defaults applied, or throws a ConfigError
 * naming the key, the value and the fix. Nothing is created before these checks pass.
 *
 * One module per concern: common.ts (namespace, defaults, shared types and checks), keys.ts (the
 * known keys), base.ts (a base stack), access.ts (`forkstack:forkAccess`), fork.ts (a fork stack),
 * baseOutputs.ts (the base → fork contract). Import from here; these modules import nothing outside
 * this folder but ../errors.
 */
export type { DnsMode, HostScheme, ServiceRef, TlsMode, Upstream } from "./common";
export { CONFIG_NAMESPACE, DEFAULTS, formatServiceRef, HEADER_NAME, isDnsName, MAX_REPLICAS, parseChartRepo, parseImageRegistry, parseServiceRef } from "./common";
export { BASE_KEYS, checkNamespaces, checkTopLevelKeys, closestKey, FORK_KEYS, NESTED_KEYS } from "./keys";
export type { BaseConfig, ClusterConfig, EksOptions, Pricing } from "./base";
export { parseBaseConfig } from "./base";
export type { ContainerResources, ForkAccessConfig, ForkOwner, NamespaceAccess, ServiceAccountRule } from "./access";
export { parseForkAccess, QUANTITY } from "./access";
export type { ForkConfig, ForkService } from "./fork";
export { expiryOf, MAX_FORK_ID_LENGTH, MAX_HEADER_VALUE, parseBaseStack, parseForkConfig, parseTtlMs, ttlProblem, validateForkId } from "./fork";
export type { BaseOutputs } from "./baseOutputs";
export { BASE_OUTPUT_NAMES, forkAccessOutputs, parseBaseOutputs } from "./baseOutputs";
