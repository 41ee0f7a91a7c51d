/**
 * The outputs of the sample base stack as a fork stack reads them (components/config/baseOutputs.ts):
 * the shop's one upstream behind the default gateway, forks in `shop` and `payments` running as the
 * fixtures' ServiceAccount ("default": their Deployments set none). Tests spread their changes over it.
 */
export const SHOP_BASE_OUTPUTS = {
  headerName: "x-fork-identifier",
  ambassadorId: "fork-proxy-ambassador",
  gatewayNamespace: "emissary",
  upstreams: [{ host: "shop.dev.example.com", service: { name: "frontend", namespace: "shop", port: 80 } }],
  hostScheme: "subdomain" as const,
  domain: "dev.example.com",
  forkNamespaces: { shop: ["default"], payments: ["default"] },
};
