// istio-routes: for HTTP requests made from a sidecar, which Envoy route istiod's configuration
// selects and where it sends them, from Kubernetes objects alone (no cluster, no Envoy).
//
// It runs istiod's own config generation (istio.io/istio/pilot/test/xds FakeDiscoveryServer: the
// Istio configs go to its in-memory config store, Namespaces/Services/Deployments/... to its fake
// kube client), asks it for the RouteConfigurations a sidecar in each calling namespace receives,
// and matches every request against them with ./envoymatch (Envoy's router semantics).
//
//	stdin:  {"objects": [<Kubernetes objects as JSON>...],
//	         "requests": [{"id", "namespace", "host", "port", "authority"?, "path"?, "method"?, "headers"?}...]}
//	stdout: {"results": [{"id", "routeConfig", "virtualHost", "route", "clusters": [{"name", "weight"}],
//	                      "outcome", "detail"?}...],
//	         "stats": {"requests", "namespaces", "millis"}}
//
// Exit status 0 whenever results are written (a request that cannot be answered has outcome
// "error"); 1 with a message on stderr when the input cannot be used at all. ISTIO_ROUTES_DEBUG=1
// shows istiod's logs on stderr.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config"
	kubelib "istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/log"
	"istio.io/istio/pkg/test"

	"forkstack.dev/e2e/istio-routes/envoymatch"
)

type input struct {
	Objects  []json.RawMessage `json:"objects"`
	Requests []request         `json:"requests"`
}

type request struct {
	ID        string            `json:"id"`
	Namespace string            `json:"namespace"`
	Host      string            `json:"host"`
	Port      int               `json:"port"`
	Authority string            `json:"authority,omitempty"`
	Path      string            `json:"path,omitempty"`
	Method    string            `json:"method,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
}

type result struct {
	ID          string               `json:"id"`
	RouteConfig string               `json:"routeConfig"`
	VirtualHost string               `json:"virtualHost"`
	Route       string               `json:"route"`
	Clusters    []envoymatch.Cluster `json:"clusters"`
	Outcome     string               `json:"outcome"`
	Detail      string               `json:"detail,omitempty"`
}

type output struct {
	Results []result `json:"results"`
	Stats   struct {
		Requests   int   `json:"requests"`
		Namespaces int   `json:"namespaces"`
		Millis     int64 `json:"millis"`
	} `json:"stats"`
}

// typeMeta is what classification needs of an object.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

func main() {
	start := time.Now()
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: istio-routes < {\"objects\": [...], \"requests\": [...]}  (JSON on stdin, JSON on stdout)")
		os.Exit(2)
	}
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading stdin: %v", err)
	}
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		fail("parsing input JSON: %v", err)
	}
	quietLogs()

	configs, kubeObjects, err := load(in.Objects, start)
	if err != nil {
		fail("%v", err)
	}

	// Requests by calling namespace, in order of first appearance.
	var namespaces []string
	byNS := map[string][]int{}
	for i, r := range in.Requests {
		if _, ok := byNS[r.Namespace]; !ok {
			namespaces = append(namespaces, r.Namespace)
		}
		byNS[r.Namespace] = append(byNS[r.Namespace], i)
	}

	out := output{Results: make([]result, len(in.Requests))}
	// test.Wrap runs the func with a Failer whose Fatal ends the goroutine and reports the error;
	// the fake server's Cleanup funcs (stop channels, gRPC server) run when it returns.
	err = test.Wrap(func(t test.Failer) {
		s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
			Configs:           configs,
			KubernetesObjects: kubeObjects,
		})
		for _, ns := range namespaces {
			proxyNS := ns
			if proxyNS == "" {
				proxyNS = "default"
			}
			proxy := s.SetupProxy(&model.Proxy{
				ID:              "istio-routes." + proxyNS,
				ConfigNamespace: proxyNS,
				Metadata:        &model.NodeMetadata{Namespace: proxyNS},
				IPAddresses:     []string{"10.255.255.254"},
			})
			rcs := map[string]*route.RouteConfiguration{}
			for _, rc := range s.Routes(proxy) { // BuildListeners -> RDS names -> BuildHTTPRoutes
				rcs[rc.GetName()] = rc
			}
			cds := map[string]bool{}
			for _, c := range s.Clusters(proxy) {
				cds[c.GetName()] = true
			}
			for _, i := range byNS[ns] {
				out.Results[i] = answer(in.Requests[i], proxyNS, rcs, cds)
			}
		}
	})
	if err != nil {
		fail("istiod: %v", err)
	}
	out.Stats.Requests = len(in.Requests)
	out.Stats.Namespaces = len(namespaces)
	out.Stats.Millis = time.Since(start).Milliseconds()
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fail("writing output: %v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "istio-routes: "+format+"\n", args...)
	os.Exit(1)
}

// answer picks the route config a sidecar uses for outbound traffic to host:port — "<host>:<port>"
// (per-Service listener of an auto-detected port) if istiod generated it, else "<port>" (the
// 0.0.0.0:<port> listener of an HTTP-declared port) — and matches the request against it.
// A selected cluster the sidecar does not have (e.g. a destination Service without the called
// port, an undefined subset) is reported in detail: Envoy answers such requests 503 NC.
func answer(r request, ns string, rcs map[string]*route.RouteConfiguration, cds map[string]bool) result {
	res := result{ID: r.ID, Clusters: []envoymatch.Cluster{}}
	if r.Host == "" || r.Port <= 0 {
		res.Outcome = string(envoymatch.OutcomeError)
		res.Detail = "request needs host and port"
		return res
	}
	port := strconv.Itoa(r.Port)
	rc := rcs[r.Host+":"+port]
	if rc == nil {
		rc = rcs[port]
	}
	if rc == nil {
		names := make([]string, 0, len(rcs))
		for n := range rcs {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) == 0 {
			names = []string{"none"}
		}
		res.Outcome = "no-route-config"
		res.Detail = fmt.Sprintf("a sidecar in %q has no route config %q or %q (it has %s)", ns, r.Host+":"+port, port, strings.Join(names, ", "))
		return res
	}
	res.RouteConfig = rc.GetName()
	authority := r.Authority
	if authority == "" {
		authority = r.Host
	}
	headers := make(map[string]string, len(r.Headers))
	for k, v := range r.Headers {
		headers[strings.ToLower(k)] = v
	}
	m := envoymatch.Match(rc, envoymatch.Request{Authority: authority, Path: r.Path, Method: r.Method, Headers: headers})
	res.VirtualHost = m.VirtualHost
	res.Route = m.Route
	if m.Clusters != nil {
		res.Clusters = m.Clusters
	}
	res.Outcome = string(m.Outcome)
	res.Detail = m.Detail
	var missing []string
	for _, c := range m.Clusters {
		if !cds[c.Name] {
			missing = append(missing, c.Name)
		}
	}
	if len(missing) > 0 {
		res.Detail = strings.TrimPrefix(res.Detail+"; ", "; ") + fmt.Sprintf("not among the sidecar's clusters (Envoy answers 503 NC): %s", strings.Join(missing, ", "))
	}
	return res
}

// load sorts the objects: every apiVersion group ending in istio.io goes to istiod's config store
// (parsed and validated by crd.ParseInputs, Domain set like the real CRD client does, so short
// hosts resolve to <name>.<ns>.svc.cluster.local), core and apps objects to the fake kube client
// (Services without a clusterIP get a synthetic unique one from 10.96.0.0/16: istiod builds no
// per-Service listeners or IP domains without it); all else is ignored.
func load(objects []json.RawMessage, now time.Time) ([]config.Config, []runtime.Object, error) {
	var istioDocs []byte
	var kube []runtime.Object
	decode := kubelib.IstioCodec.UniversalDeserializer().Decode
	for i, o := range objects {
		var tm typeMeta
		if err := json.Unmarshal(o, &tm); err != nil {
			return nil, nil, fmt.Errorf("object %d: %v", i, err)
		}
		group, _, hasGroup := strings.Cut(tm.APIVersion, "/")
		if !hasGroup {
			group = "" // core: "v1"
		}
		switch {
		case strings.HasSuffix(group, "istio.io"):
			istioDocs = append(istioDocs, o...)
			istioDocs = append(istioDocs, '\n')
		case group == "" || group == "apps":
			obj, _, err := decode(o, nil, nil)
			if runtime.IsNotRegisteredError(err) {
				continue
			}
			if err != nil {
				return nil, nil, fmt.Errorf("%s %s/%s: %v", tm.Kind, tm.Metadata.Namespace, tm.Metadata.Name, err)
			}
			if mo, ok := obj.(metav1.Object); ok && mo.GetNamespace() == "" && !clusterScoped[tm.Kind] {
				mo.SetNamespace("default")
			}
			kube = append(kube, obj)
		}
	}
	assignClusterIPs(kube)

	cfgs, _, err := crd.ParseInputs(string(istioDocs)) // unknown Istio kinds are ignored
	if err != nil {
		return nil, nil, fmt.Errorf("istio config: %v", err)
	}
	configs := make([]config.Config, 0, len(cfgs))
	for _, c := range cfgs {
		if c.Namespace == "" {
			c.Namespace = "default"
		}
		c.Domain = "cluster.local"
		if c.CreationTimestamp.IsZero() {
			c.CreationTimestamp = now // merging of VirtualServices for one host orders by it
		}
		configs = append(configs, c)
	}
	return configs, kube, nil
}

var clusterScoped = map[string]bool{"Namespace": true, "Node": true, "PersistentVolume": true}

func assignClusterIPs(objs []runtime.Object) {
	used := map[string]bool{}
	var need []*corev1.Service
	for _, o := range objs {
		svc, ok := o.(*corev1.Service)
		if !ok {
			continue
		}
		if svc.Spec.ClusterIP != "" {
			used[svc.Spec.ClusterIP] = true
			continue
		}
		if svc.Spec.Type != corev1.ServiceTypeExternalName {
			need = append(need, svc)
		}
	}
	next := netip.MustParseAddr("10.96.0.10")
	for _, svc := range need {
		for used[next.String()] {
			next = next.Next()
		}
		svc.Spec.ClusterIP = next.String()
		svc.Spec.ClusterIPs = []string{next.String()}
		used[next.String()] = true
	}
}

func quietLogs() {
	o := log.DefaultOptions()
	o.OutputPaths = []string{"stderr"}
	o.ErrorOutputPaths = []string{"stderr"}
	_ = log.Configure(o)
	// NoneLevel: the fake kube client's CRD watcher logs harmless errors ("CRD ... expected to have
	// a ... annotation"); real failures come back through test.Wrap's error.
	lvl := log.NoneLevel
	if os.Getenv("ISTIO_ROUTES_DEBUG") != "" {
		lvl = log.InfoLevel
	}
	for _, s := range log.Scopes() {
		s.SetOutputLevel(lvl)
	}
}
