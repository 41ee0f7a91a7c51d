/** The config keys forkctl relies on: a fork's fixed expiry and the base stack's prices. */
import { expiryOf, parseBaseConfig, parseForkConfig } from "../components/config";
import { configErrorOf } from "./helpers/configError";

const base = {
  domain: "dev.example.com",
  cluster: { mode: "kubeconfig" },
  upstreams: [{ host: "shop.dev.example.com", service: "frontend.shop:80" }],
};
const now = new Date("2026-12-01T10:00:00Z");

const messageOf = (fn: () => unknown): string => configErrorOf(fn).message;

describe("fork expiresAt", () => {
  it("is the expiry whatever the deployment time, and wins over ttl", () => {
    const fork = parseForkConfig({ id: "pr-7", ttl: "72h", expiresAt: "2026-12-04T10:00:00Z" });
    expect(expiryOf(fork, now)).toBe("2026-12-04T10:00:00Z");
    expect(expiryOf(fork, new Date("2026-12-03T00:00:00Z"))).toBe("2026-12-04T10:00:00Z");
  });

  it("leaves ttl counting from the deployment time when absent", () => {
    expect(expiryOf(parseForkConfig({ id: "pr-7", ttl: "2h" }), now)).toBe("2026-12-01T12:00:00Z");
  });

  it.each(["2026-12-04", "2026-12-04T10:00:00+01:00", "2026-13-04T10:00:00Z", 1733300000])("refuses %j in one line naming the key", (expiresAt) => {
    expect(messageOf(() => parseForkConfig({ id: "pr-7", expiresAt }))).toMatch(/^forkstack:fork\.expiresAt: .* is not an ISO 8601 UTC time; use e\.g\. "2026-12-24T18:00:00Z"/);
  });
});

describe("base pricing", () => {
  it("is absent unless given", () => {
    expect(parseBaseConfig(base).pricing).toBeUndefined();
  });

  it("takes prices per vCPU-hour and GiB-hour, in USD by default", () => {
    expect(parseBaseConfig({ ...base, pricing: { vcpuHour: 0.0416, gibHour: "0.0052" } }).pricing).toEqual({ vcpuHour: 0.0416, gibHour: 0.0052, currency: "USD" });
  });

  it.each([
    [{ vcpuHour: -1, gibHour: 0.005 }, /^forkstack:pricing\.vcpuHour: -1 is not a price per hour/],
    [{ vcpuHour: 0.04 }, /^forkstack:pricing\.gibHour: \(missing\) is not a price per hour/],
    [{ vcpuHour: 0.04, gibHour: 0.005, currency: "dollars" }, /^forkstack:pricing\.currency: "dollars" is not an ISO 4217 currency code/],
  ])("refuses %j naming the field", (pricing, message) => {
    expect(messageOf(() => parseBaseConfig({ ...base, pricing }))).toMatch(message);
  });
});
