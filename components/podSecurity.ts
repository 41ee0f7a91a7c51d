/**
 * Kubernetes' `baseline` Pod Security profile (https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline),
 * for a copy's pods: the allowed capabilities, sysctls and SELinux types, as that page lists them.
 * One list for the two places that judge a copy: the admission policy on the API server
 * (forkPolicy.ts) and the fork plan before anything is created (fork/podRules.ts). It imports
 * nothing, so both can import it.
 */
export const BASELINE: { readonly capabilities: readonly string[]; readonly sysctls: readonly string[]; readonly seLinuxTypes: readonly string[] } = {
  capabilities: ["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"],
  sysctls: [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
  ],
  seLinuxTypes: ["", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"],
};

/**
 * Pod annotations through which a pod gets more than its spec says, so a copy's pods may not carry
 * them: Istio's sidecar injector builds the istio-proxy and istio-init containers from them (image,
 * extra volumes of any kind — a hostPath, any Secret —, root with NET_ADMIN for TPROXY or
 * capNetBindService, a core-dump init container that runs privileged, other templates), and the
 * injected pod is created by the ReplicaSet controller, which the fork policy never sees
 * (https://istio.io/latest/docs/reference/config/annotations/). The legacy seccomp annotations could
 * still ask for `unconfined` on older kubelets.
 */
export const FORBIDDEN_POD_ANNOTATIONS: readonly string[] = [
  "sidecar.istio.io/userVolume",
  "sidecar.istio.io/userVolumeMount",
  "sidecar.istio.io/proxyImage",
  "sidecar.istio.io/interceptionMode",
  "sidecar.istio.io/capNetBindService",
  "sidecar.istio.io/bootstrapOverride",
  "sidecar.istio.io/enableCoreDump",
  "inject.istio.io/templates",
];
export const FORBIDDEN_POD_ANNOTATION_PREFIXES: readonly string[] = ["seccomp.security.alpha.kubernetes.io/", "container.seccomp.security.alpha.kubernetes.io/"];
