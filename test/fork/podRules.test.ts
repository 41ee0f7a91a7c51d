/**
 * copyPodProblem: what the base's admission policy (workloadPolicy) would refuse in a copy's pods,
 * said before anything is created. Each rule with a pod spec it refuses and one it admits; every
 * such case is judged by the policy's own CEL too (test/helpers/admission.ts), which must agree.
 */
import type { KubeObject } from "../../components/kube/objects";
import { copyPodProblem, parseQuantity, PodRules } from "../../components/fork/podRules";
import { workloadPolicy } from "../../components/forkPolicy";
import { admit } from "../helpers/admission";

type Pod = Record<string, unknown>;
const container = (over: Record<string, unknown> = {}) => ({ name: "api", image: "registry.example.com/shop/api:1", ...over });

/** A copy as copyDeployment returns it, with the pod spec (and template annotations) given. */
function copy(pod: Pod = {}, annotations?: Record<string, string>): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "api-alice", namespace: "payments", labels: { "forkstack.dev/fork": "alice" } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: "api-forkstack-alice", "forkstack.dev/fork": "alice" } },
      template: {
        metadata: { labels: { app: "api-forkstack-alice", "forkstack.dev/fork": "alice" }, ...(annotations ? { annotations } : {}) },
        spec: { containers: [container()], ...pod },
      },
    },
  };
}
/** Every pod spec a test below judges, for the policy to judge too. */
const judged: Array<{ pod: Pod; rules: PodRules; annotations?: Record<string, string> }> = [];
const problem = (pod: Pod, rules: PodRules = {}, annotations?: Record<string, string>) => {
  judged.push({ pod, rules, annotations });
  return copyPodProblem(copy(pod, annotations), rules)?.problem;
};
const fixOf = (pod: Pod, rules: PodRules = {}) => copyPodProblem(copy(pod), rules)?.fix;
const withContext = (securityContext: Record<string, unknown>): Pod => ({ containers: [container({ securityContext })] });

describe("copyPodProblem: Pod Security baseline", () => {
  it("admits a plain pod", () => {
    expect(copyPodProblem(copy(), {})).toBeUndefined();
  });

  it.each([
    ["hostNetwork", "network"],
    ["hostPID", "PID"],
    ["hostIPC", "IPC"],
  ])("refuses %s", (field, what) => {
    expect(problem({ [field]: true })).toBe(`uses the node's ${what} namespace (${field}: true)`);
  });

  it("admits host namespaces set to false", () => {
    expect(problem({ hostNetwork: false, hostPID: false, hostIPC: false })).toBeUndefined();
  });

  it("refuses a hostPath volume", () => {
    expect(problem({ volumes: [{ name: "docker", hostPath: { path: "/var/run/docker.sock" } }] })).toBe('mounts a directory of the node (hostPath volume "docker")');
  });

  it("admits an emptyDir volume", () => {
    expect(problem({ volumes: [{ name: "tmp", emptyDir: {} }] })).toBeUndefined();
  });

  it("refuses a privileged container", () => {
    expect(problem(withContext({ privileged: true }))).toBe('runs container "api" privileged');
  });

  it("refuses a privileged init container, naming it as one", () => {
    expect(problem({ initContainers: [container({ name: "setup", securityContext: { privileged: true } })] })).toBe('runs init container "setup" privileged');
  });

  it("admits privileged: false", () => {
    expect(problem(withContext({ privileged: false }))).toBeUndefined();
  });

  it("refuses a capability beyond baseline's list", () => {
    expect(problem(withContext({ capabilities: { add: ["NET_BIND_SERVICE", "NET_ADMIN"] } }))).toBe('adds the capability NET_ADMIN to container "api", which Pod Security baseline does not allow');
  });

  it("admits capabilities baseline lists, and any dropped", () => {
    expect(problem(withContext({ capabilities: { add: ["NET_BIND_SERVICE", "CHOWN"], drop: ["ALL"] } }))).toBeUndefined();
  });

  it("refuses a hostPort", () => {
    expect(problem({ containers: [container({ ports: [{ containerPort: 8080, hostPort: 8080 }] })] })).toBe('binds container "api" to port 8080 of the node (hostPort)');
  });

  it("admits a containerPort without a hostPort, or hostPort 0", () => {
    expect(problem({ containers: [container({ ports: [{ containerPort: 8080 }, { containerPort: 9090, hostPort: 0 }] })] })).toBeUndefined();
  });

  it("refuses seccomp Unconfined on the pod", () => {
    expect(problem({ securityContext: { seccompProfile: { type: "Unconfined" } } })).toBe("runs its pods without seccomp (seccompProfile: Unconfined)");
  });

  it("refuses seccomp Unconfined on a container", () => {
    expect(problem(withContext({ seccompProfile: { type: "Unconfined" } }))).toBe('runs container "api" without seccomp (seccompProfile: Unconfined)');
  });

  it("admits seccomp RuntimeDefault and Localhost", () => {
    expect(problem({ securityContext: { seccompProfile: { type: "RuntimeDefault" } }, containers: [container({ securityContext: { seccompProfile: { type: "Localhost", localhostProfile: "p.json" } } })] })).toBeUndefined();
  });

  it("refuses an AppArmor profile Unconfined", () => {
    expect(problem(withContext({ appArmorProfile: { type: "Unconfined" } }))).toBe('runs container "api" without AppArmor (appArmorProfile: Unconfined)');
  });

  it("admits an AppArmor profile RuntimeDefault", () => {
    expect(problem({ securityContext: { appArmorProfile: { type: "RuntimeDefault" } } })).toBeUndefined();
  });

  it("refuses the AppArmor annotation unconfined", () => {
    expect(problem({}, {}, { "container.apparmor.security.beta.kubernetes.io/api": "unconfined" })).toBe(
      'runs container "api" without AppArmor (annotation container.apparmor.security.beta.kubernetes.io/api: unconfined)',
    );
  });

  it("refuses an annotation through which Istio's injector gives the pod more than its spec (an extra volume)", () => {
    expect(problem({}, {}, { "sidecar.istio.io/userVolume": '{"host":{"hostPath":{"path":"/"}}}' })).toBe(
      "has the pod annotation sidecar.istio.io/userVolume, with which a pod gets more than its spec says (Istio's injector or a legacy seccomp profile)",
    );
  });

  it("refuses a legacy seccomp annotation", () => {
    expect(problem({}, {}, { "seccomp.security.alpha.kubernetes.io/pod": "unconfined" })).toMatch(/has the pod annotation seccomp.security.alpha.kubernetes.io\/pod/);
  });

  it("admits the AppArmor annotations runtime/default and localhost/<profile>", () => {
    const annotations = { "container.apparmor.security.beta.kubernetes.io/api": "runtime/default", "container.apparmor.security.beta.kubernetes.io/log": "localhost/k8s-log", "sidecar.istio.io/inject": "true" };
    expect(problem({}, {}, annotations)).toBeUndefined();
  });

  it("refuses an SELinux type outside baseline's list", () => {
    expect(problem({ securityContext: { seLinuxOptions: { type: "spc_t" } } })).toBe("gives its pods the SELinux type spc_t, which Pod Security baseline does not allow");
  });

  it("refuses an SELinux user", () => {
    expect(problem(withContext({ seLinuxOptions: { user: "system_u" } }))).toBe('gives container "api" the SELinux user system_u, which Pod Security baseline does not allow');
  });

  it("refuses an SELinux role", () => {
    expect(problem(withContext({ seLinuxOptions: { role: "system_r" } }))).toBe('gives container "api" the SELinux role system_r, which Pod Security baseline does not allow');
  });

  it("admits SELinux types baseline lists, with a level", () => {
    expect(problem({ securityContext: { seLinuxOptions: { type: "container_t", level: "s0:c123,c456" } }, containers: [container({ securityContext: { seLinuxOptions: { type: "" } } })] })).toBeUndefined();
  });

  it("refuses procMount Unmasked", () => {
    expect(problem(withContext({ procMount: "Unmasked" }))).toBe('unmasks /proc in container "api" (procMount: Unmasked)');
  });

  it("admits procMount Default", () => {
    expect(problem(withContext({ procMount: "Default" }))).toBeUndefined();
  });

  it("refuses an unsafe sysctl", () => {
    expect(problem({ securityContext: { sysctls: [{ name: "net.ipv4.tcp_syncookies", value: "1" }, { name: "kernel.msgmax", value: "65536" }] } })).toBe(
      "sets the sysctl kernel.msgmax, which Pod Security baseline does not allow",
    );
  });

  it("admits the sysctls baseline lists", () => {
    expect(problem({ securityContext: { sysctls: [{ name: "net.ipv4.ip_local_port_range", value: "1024 65000" }] } })).toBeUndefined();
  });

  it("refuses a Windows host process", () => {
    expect(problem(withContext({ windowsOptions: { hostProcess: true } }))).toBe('runs container "api" as a Windows host process');
  });

  it("admits Windows options without a host process", () => {
    expect(problem({ securityContext: { windowsOptions: { hostProcess: false, runAsUserName: "ContainerUser" } } })).toBeUndefined();
  });

  it("points a baseline refusal at the Deployment's owners and the profile", () => {
    expect(fixOf({ hostNetwork: true })).toBe(
      "fork another Deployment, or ask its owners to run it within Kubernetes' Pod Security baseline profile (https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline)",
    );
  });
});

describe("copyPodProblem: Secrets", () => {
  const listed: PodRules = { secrets: ["payments-config"] };

  it("refuses a secret volume of a Secret the namespace does not list", () => {
    expect(problem({ volumes: [{ name: "creds", secret: { secretName: "db-root" } }] }, listed)).toBe('uses Secret "db-root" (volume "creds"), which copies in payments may not use');
  });

  it("admits a secret volume of a listed Secret", () => {
    expect(problem({ volumes: [{ name: "config", secret: { secretName: "payments-config" } }] }, listed)).toBeUndefined();
  });

  it("refuses a projected volume with an unlisted Secret among its sources", () => {
    const volumes = [{ name: "all", projected: { sources: [{ configMap: { name: "c" } }, { secret: { name: "payments-config" } }, { secret: { name: "db-root" } }] } }];
    expect(problem({ volumes }, listed)).toBe('uses Secret "db-root" (projected volume "all"), which copies in payments may not use');
  });

  it("admits a projected volume of listed Secrets and other sources", () => {
    const volumes = [{ name: "all", projected: { sources: [{ serviceAccountToken: { path: "token" } }, { secret: { name: "payments-config" } }] } }];
    expect(problem({ volumes }, listed)).toBeUndefined();
  });

  it("refuses an env secretKeyRef to an unlisted Secret", () => {
    const env = [{ name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "db-root", key: "password" } } }];
    expect(problem({ containers: [container({ env })] }, listed)).toBe('uses Secret "db-root" (env DB_PASSWORD of container "api"), which copies in payments may not use');
  });

  it("admits env from a listed Secret, a ConfigMap or a field", () => {
    const env = [
      { name: "A", valueFrom: { secretKeyRef: { name: "payments-config", key: "a" } } },
      { name: "B", valueFrom: { configMapKeyRef: { name: "db-root", key: "b" } } },
      { name: "C", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
    ];
    expect(problem({ containers: [container({ env })] }, listed)).toBeUndefined();
  });

  it("offers the fork's own env for a Secret variable of the first container", () => {
    const env = [{ name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "db-root", key: "password" } } }];
    expect(fixOf({ containers: [container({ env })] }, listed)).toBe(
      "give the fork its own env.DB_PASSWORD, fork another Deployment, or ask the platform team to list the Secret under forkstack:forkAccess.namespaces.payments.secrets",
    );
  });

  it("does not offer the fork's env for a Secret variable of another container", () => {
    const env = [{ name: "TOKEN", valueFrom: { secretKeyRef: { name: "db-root", key: "t" } } }];
    expect(fixOf({ containers: [container(), container({ name: "log", env })] }, listed)).toBe(
      "fork another Deployment, or ask the platform team to list the Secret under forkstack:forkAccess.namespaces.payments.secrets",
    );
  });

  it("refuses envFrom an unlisted Secret", () => {
    expect(problem({ containers: [container({ envFrom: [{ configMapRef: { name: "x" } }, { secretRef: { name: "db-root" } }] })] }, listed)).toBe(
      'uses Secret "db-root" (envFrom of container "api"), which copies in payments may not use',
    );
  });

  it("admits envFrom a listed Secret", () => {
    expect(problem({ containers: [container({ envFrom: [{ secretRef: { name: "payments-config" } }] })] }, listed)).toBeUndefined();
  });

  it("refuses an unlisted imagePullSecret", () => {
    expect(problem({ imagePullSecrets: [{ name: "registry" }] }, listed)).toBe('uses Secret "registry" (imagePullSecrets[0]), which copies in payments may not use');
  });

  it("refuses an imagePullSecret without a name", () => {
    expect(problem({ imagePullSecrets: [{}] }, listed)).toBe("uses a Secret without a name (imagePullSecrets[0]), which copies in payments may not use");
  });

  it("admits a listed imagePullSecret", () => {
    expect(problem({ imagePullSecrets: [{ name: "registry" }] }, { secrets: ["registry"] })).toBeUndefined();
  });

  it("refuses every Secret where the namespace lists none", () => {
    expect(problem({ volumes: [{ name: "config", secret: { secretName: "payments-config" } }] }, { secrets: [] })).toBe(
      'uses Secret "payments-config" (volume "config"), which copies in payments may not use',
    );
  });

  it("admits any Secret where the namespace does not limit them", () => {
    expect(problem({ volumes: [{ name: "creds", secret: { secretName: "db-root" } }], imagePullSecrets: [{ name: "registry" }] })).toBeUndefined();
  });
});

describe("copyPodProblem: the container ceiling", () => {
  const ceiling: PodRules = { maxContainerResources: { cpu: "2", memory: "4Gi" } };
  const resources = (r: Record<string, unknown>, name = "api"): Pod => ({ containers: [container({ name, resources: r })] });

  it("refuses a cpu request over the ceiling", () => {
    expect(problem(resources({ requests: { cpu: "4" } }), ceiling)).toBe('requests cpu 4 in container "api", more than the 2 a copy may (forkstack:forkAccess.maxContainerResources of the base)');
  });

  it("refuses a memory limit over the ceiling", () => {
    expect(problem(resources({ limits: { memory: "8Gi" } }), ceiling)).toBe('limits memory to 8Gi in container "api", more than the 4Gi a copy may (forkstack:forkAccess.maxContainerResources of the base)');
  });

  it("refuses an init container over the ceiling", () => {
    expect(problem({ initContainers: [container({ name: "migrate", resources: { limits: { cpu: "2500m" } } })] }, ceiling)).toBe(
      'limits cpu to 2500m in init container "migrate", more than the 2 a copy may (forkstack:forkAccess.maxContainerResources of the base)',
    );
  });

  it("refuses a YAML number of CPUs over the ceiling", () => {
    expect(problem(resources({ requests: { cpu: 3 } }), ceiling)).toBe('requests cpu 3 in container "api", more than the 2 a copy may (forkstack:forkAccess.maxContainerResources of the base)');
  });

  it("admits requests and limits at the ceiling, in other units", () => {
    expect(problem(resources({ requests: { cpu: "500m", memory: "512Mi" }, limits: { cpu: "2000m", memory: "4096Mi" } }), ceiling)).toBeUndefined();
  });

  it("judges only the resources the ceiling names", () => {
    expect(problem(resources({ requests: { cpu: "64", memory: "1Ti", "ephemeral-storage": "100Gi" } }), { maxContainerResources: { memory: "2Ti" } })).toBeUndefined();
  });

  it("admits anything without a ceiling", () => {
    expect(problem(resources({ requests: { cpu: "64", memory: "1Ti" } }))).toBeUndefined();
  });

  it("points at the ceiling's key for the resource", () => {
    expect(fixOf(resources({ limits: { memory: "8Gi" } }), ceiling)).toBe("fork another Deployment, or ask the platform team to raise forkstack:forkAccess.maxContainerResources.memory");
  });
});

describe("parseQuantity", () => {
  it.each([
    ["2", 2],
    ["500m", 0.5],
    ["1.5k", 1500],
    ["4Gi", 4 * 1024 ** 3],
    ["512Mi", 512 * 1024 ** 2],
    ["1e3", 1000],
    ["1E-3", 0.001],
    ["1E", 1e18],
    [".5", 0.5],
    ["+1M", 1e6],
  ])("reads %s as %d", (text, value) => {
    expect(parseQuantity(text)).toBe(value);
  });

  it("reads a YAML number as itself", () => {
    expect(parseQuantity(2.5)).toBe(2.5);
  });

  it("gives 100m and 0.1 the same value", () => {
    expect(parseQuantity("100m")).toBe(parseQuantity("0.1"));
  });

  it.each(["", "2 cores", "4GB", "-1", "1e", "m"])("refuses %j", (text) => {
    expect(parseQuantity(text)).toBeUndefined();
  });
});

describe("the admission policy agrees", () => {
  /** workloadPolicy of a base whose payments namespace has these rules (copies run as default). */
  const policyFor = (rules: PodRules) =>
    workloadPolicy({
      access: {
        group: "forkstack-forkers",
        principals: [],
        namespaces: { payments: { serviceAccounts: ["default"], ...(rules.secrets === undefined ? {} : { secrets: rules.secrets }) } },
        ...(rules.maxContainerResources === undefined ? {} : { maxContainerResources: rules.maxContainerResources }),
      },
      headerName: "x-fork-identifier",
      gatewayNamespace: "emissary",
      ambassadorId: "fork-proxy-ambassador",
      upstreams: [{ host: "shop.dev.example.com", service: { name: "frontend", namespace: "shop", port: 80 } }],
      hostScheme: "subdomain",
      domain: "dev.example.com",
      maxForkReplicas: 3,
    });

  it("has refused and admitted cases to judge (the tests above ran first)", () => {
    const refusals = judged.filter(({ pod, rules, annotations }) => copyPodProblem(copy(pod, annotations), rules) !== undefined).length;
    expect([refusals > 0, judged.length - refusals > 0]).toEqual([true, true]);
  });

  it("refuses exactly the copies copyPodProblem refuses", () => {
    const disagreements = judged.flatMap(({ pod, rules, annotations }) => {
      const object = copy(pod, annotations);
      const verdict = admit(policyFor(rules), { operation: "CREATE", object });
      const plan = copyPodProblem(object, rules)?.problem;
      return verdict.allowed === (plan === undefined) ? [] : [`${JSON.stringify({ pod, annotations, rules })}: plan says ${plan ?? "admitted"}, policy says ${verdict.allowed ? "admitted" : verdict.message}`];
    });
    expect(disagreements).toEqual([]);
  });
});
