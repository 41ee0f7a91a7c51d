import {
  boundedName,
  copiedFromValue,
  copyName,
  dnsNameSlug,
  forkHost,
  FORK_LABEL_SUFFIX,
  forkLabelValue,
  forkOfRoute,
  isRouteOfFork,
  mappingName,
  routeName,
  wildcardHost,
} from "../components/naming";

const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

describe("naming", () => {
  it("keeps short copy names readable", () => {
    expect(copyName("api", "alice")).toBe("api-alice");
  });

  it("shortens a 50-character service in a 25-character fork to a valid 63-character DNS-1035 name", () => {
    const service = "a" + "b".repeat(48) + "c";
    const fork = "pr-1234-feature-checkout"; // 24
    const fork25 = `${fork}x`;
    const name = copyName(service, fork25);
    expect(service).toHaveLength(50);
    expect(fork25).toHaveLength(25);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(DNS1035);
  });

  it("gives different long inputs different shortened names", () => {
    const service = "s".repeat(60);
    expect(copyName(service, "alice")).not.toBe(copyName(service, "alicf"));
    expect(copyName(service, "alice")).toBe(copyName(service, "alice"));
  });

  it("never ends a shortened name with a hyphen before the hash", () => {
    const name = boundedName(["x".repeat(53) + "-", "y".repeat(20)]);
    expect(name).not.toMatch(/--/);
    expect(name.length).toBeLessThanOrEqual(63);
  });

  it("ends every copy name in -<fork> and every label value in -forkstack-<fork>, shortened or not", () => {
    const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
    for (const base of ["api", "s".repeat(60), "x".repeat(40) + "-.-", "-_.", ".web"]) {
      for (const fork of ["alice", "pr-4812-checkout-redesign-x12"]) {
        expect(copyName(base, fork).endsWith(`-${fork}`)).toBe(true);
        expect(copyName(base, fork).length).toBeLessThanOrEqual(63);
        const value = forkLabelValue(base, fork);
        expect(value.endsWith(`${FORK_LABEL_SUFFIX}${fork}`)).toBe(true);
        expect(value.length).toBeLessThanOrEqual(63);
        expect(value).toMatch(LABEL_VALUE);
      }
    }
    expect(FORK_LABEL_SUFFIX).toBe("-forkstack-");
    expect(forkLabelValue("", "alice")).toBe("fork-forkstack-alice");
  });

  it("keeps copy names short: <name>-<fork>, not the label suffix", () => {
    expect(copyName("api", "alice")).toBe("api-alice");
    expect(copyName("web-api", "checkout-v2")).toBe("web-api-checkout-v2");
  });

  it("makes label values that differ from the shared value and stay within 63 characters", () => {
    expect(forkLabelValue("api", "alice")).toBe("api-forkstack-alice");
    const v = forkLabelValue("v".repeat(63), "alice");
    expect(v.length).toBeLessThanOrEqual(63);
    expect(v).toMatch(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/);
    expect(v).toMatch(/^v+-[0-9a-f]{8}-forkstack-alice$/);
    expect(forkLabelValue("v".repeat(63), "alice")).toBe(v);
    expect(forkLabelValue("v".repeat(62) + "w", "alice")).not.toBe(v);
  });

  it("gives no fork a label value that a shared value already has (the forgeable -<fork> suffix)", () => {
    // A shared selector value `web-api` ends in `-api`, and `web-checkout-v2` in `-checkout-v2`: with a
    // bare `-<fork>` suffix, whoever owns fork `api` or `checkout-v2` could carry them.
    for (const [shared, fork] of [["web-api", "api"], ["web-checkout-v2", "checkout-v2"]]) {
      expect(shared.endsWith(`${FORK_LABEL_SUFFIX}${fork}`)).toBe(false);
      expect(forkLabelValue("web", fork)).toBe(`web-forkstack-${fork}`);
      expect(forkLabelValue("web", fork)).not.toBe(shared);
    }
  });

  it("names a fork's routes and recognises only its own", () => {
    expect(routeName("alice")).toBe("forkstack-alice");
    expect(routeName("alice", 2)).toBe("forkstack-alice--2");
    expect(isRouteOfFork("forkstack-alice--2", "alice")).toBe(true);
    expect(isRouteOfFork("forkstack-alice-2", "alice")).toBe(false);
    expect(isRouteOfFork("forkstack-alicex", "alice")).toBe(false);
    expect(forkOfRoute("forkstack-pr-12--3")).toBe("pr-12");
    expect(forkOfRoute("default")).toBeUndefined();
  });

  it("builds fork hosts and wildcards for both host schemes", () => {
    expect(forkHost("alice", "shop.dev.example.com", "subdomain")).toBe("alice.shop.dev.example.com");
    expect(wildcardHost("shop.dev.example.com", "subdomain")).toBe("*.shop.dev.example.com");
    expect(forkHost("alice", "shop.dev.example.com", "flat")).toBe("alice--shop.dev.example.com");
    expect(wildcardHost("shop.dev.example.com", "flat")).toBe("*.dev.example.com");
  });

  it("names Mappings per fork and upstream within 63 characters", () => {
    expect(mappingName("shop.dev.example.com", "alice")).toBe("fork-alice-shop-dev-example-com");
    expect(mappingName("shop.dev.example.com")).toBe("shared-shop-dev-example-com");
    expect(mappingName("a-very-long-upstream-name.team-payments.dev.example.com", "pr-1234-feature-checkout").length).toBeLessThanOrEqual(63);
  });

  it("writes the copied-from label as namespace.name", () => {
    expect(copiedFromValue("shop", "api")).toBe("shop.api");
  });

  it("shortens a copied-from value over 63 characters to a valid label value with a hash", () => {
    const value = copiedFromValue("n".repeat(40), "s".repeat(40));
    expect(value.length).toBeLessThanOrEqual(63);
    expect(value).toMatch(/^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$/);
    expect(value).not.toBe(copiedFromValue("n".repeat(40), "s".repeat(39) + "t"));
  });

  it("slugs a DNS name for a logical name, marking a wildcard so it differs from its host", () => {
    expect([dnsNameSlug("shop.dev.example.com"), dnsNameSlug("*.shop.dev.example.com")]).toEqual(["shop-dev-example-com", "wildcard-shop-dev-example-com"]);
  });
});
