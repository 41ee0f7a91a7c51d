/** The base → fork contract (components/config/baseOutputs.ts): what a base publishes about fork access, and how a fork reads it. */
import { forkAccessOutputs, parseBaseConfig, parseBaseOutputs } from "../../components/config";
import { configErrorOf } from "../helpers/configError";
import { SHOP_BASE_OUTPUTS } from "../helpers/baseOutputs";

const outputs = { ...SHOP_BASE_OUTPUTS, forkNamespaces: { shop: ["default"], payments: ["fork-runner"] } };
const read = (values: Record<string, unknown>) => parseBaseOutputs("org/forkstack/dev", values).base;
const messageOf = (values: Record<string, unknown>) => configErrorOf(() => read(values)).message;

describe("parseBaseOutputs: fork access", () => {
  it("reads the new outputs", () => {
    const base = read({ ...outputs, forkSecrets: { payments: ["payments-config"] }, forkMaxContainerResources: { cpu: "2", memory: "4Gi" } });
    expect([base.forkNamespaces, base.forkSecrets, base.maxContainerResources]).toEqual([{ shop: ["default"], payments: ["fork-runner"] }, { payments: ["payments-config"] }, { cpu: "2", memory: "4Gi" }]);
  });

  it("reads a base of the previous release: no forkSecrets ({}), no ceiling, and shared still accepted", () => {
    const base = read({ ...outputs, forkNamespaces: { shop: "shared", payments: ["fork-runner"] } });
    expect([base.forkNamespaces, base.forkSecrets, "maxContainerResources" in base]).toEqual([{ shop: "shared", payments: ["fork-runner"] }, {}, false]);
  });

  it("reads forkSecrets with an empty list as no Secret at all", () => {
    expect(read({ ...outputs, forkSecrets: { payments: [] } }).forkSecrets).toEqual({ payments: [] });
  });

  it("lets a ceiling name only cpu", () => {
    expect(read({ ...outputs, forkMaxContainerResources: { cpu: "500m" } }).maxContainerResources).toEqual({ cpu: "500m" });
  });

  it.each([
    [{ forkSecrets: ["payments-config"] }, 'has an output "forkSecrets" that is not a map of namespace to a list of Secrets'],
    [{ forkSecrets: { payments: "payments-config" } }, 'has an output "forkSecrets.payments" that is not a list of Secrets'],
    [{ forkSecrets: { payments: [7] } }, 'has an output "forkSecrets.payments" that is not a list of Secrets'],
    [{ forkMaxContainerResources: "2" }, 'has an output "forkMaxContainerResources" that is not { cpu, memory }'],
    [{ forkMaxContainerResources: { cpu: 2 } }, 'has an output "forkMaxContainerResources.cpu" that is not a Kubernetes quantity (2)'],
    [{ forkMaxContainerResources: { memory: "4 GiB" } }, 'has an output "forkMaxContainerResources.memory" that is not a Kubernetes quantity ("4 GiB")'],
    [{ forkMaxContainerResources: { gpu: "1" } }, 'has an output "forkMaxContainerResources.gpu" that is not cpu or memory'],
    [{ forkNamespaces: { shop: "any" } }, 'has an output "forkNamespaces.shop" that is not shared or a list of ServiceAccounts'],
  ])("refuses %j naming the base stack and the output", (over, problem) => {
    expect(messageOf({ ...outputs, ...over })).toBe(
      `forkstack:baseStack: "org/forkstack/dev" ${problem}; run \`pulumi up\` on the base stack with this version of forkstack, or point forkstack:baseStack at a deployed base stack`,
    );
  });
});

describe("forkAccessOutputs", () => {
  const config = parseBaseConfig({
    domain: "dev.example.com",
    upstreams: [{ host: "shop.dev.example.com", service: "frontend.shop:80" }],
    forkAccess: { group: "shop-devs", namespaces: { shop: ["default", "api"], payments: { serviceAccounts: ["fork-runner"], secrets: ["payments-config"] } }, maxContainerResources: { memory: "4Gi" } },
  });

  it("publishes each namespace's ServiceAccounts, the Secrets of those that list them, and the ceiling", () => {
    expect(forkAccessOutputs(config.forkAccess)).toEqual({
      forkGroup: "shop-devs",
      forkNamespaces: { shop: ["default", "api"], payments: ["fork-runner"] },
      forkSecrets: { payments: ["payments-config"] },
      forkMaxContainerResources: { memory: "4Gi" },
    });
  });

  it("is what a fork reads back", () => {
    const published = forkAccessOutputs(config.forkAccess);
    const base = read({ ...outputs, ...published });
    expect([base.forkNamespaces, base.forkSecrets, base.maxContainerResources]).toEqual([published.forkNamespaces, published.forkSecrets, published.forkMaxContainerResources]);
  });
});
