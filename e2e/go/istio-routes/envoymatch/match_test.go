package envoymatch

import (
	"reflect"
	"strings"
	"testing"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// ---- hand-built configuration helpers ----

func vhost(name string, domains []string, routes ...*route.Route) *route.VirtualHost {
	return &route.VirtualHost{Name: name, Domains: domains, Routes: routes}
}

func toCluster(name, cluster string, m *route.RouteMatch) *route.Route {
	return &route.Route{Name: name, Match: m, Action: &route.Route_Route{Route: &route.RouteAction{
		ClusterSpecifier: &route.RouteAction_Cluster{Cluster: cluster}}}}
}

func prefix(p string, headers ...*route.HeaderMatcher) *route.RouteMatch {
	return &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: p}, Headers: headers}
}

func exactHeader(name, value string) *route.HeaderMatcher {
	return &route.HeaderMatcher{Name: name, HeaderMatchSpecifier: &route.HeaderMatcher_StringMatch{
		StringMatch: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: value}}}}
}

func regexHeader(name, re string) *route.HeaderMatcher {
	return &route.HeaderMatcher{Name: name, HeaderMatchSpecifier: &route.HeaderMatcher_StringMatch{
		StringMatch: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_SafeRegex{
			SafeRegex: &matcher.RegexMatcher{Regex: re}}}}}
}

func rc(vhs ...*route.VirtualHost) *route.RouteConfiguration {
	return &route.RouteConfiguration{Name: "80", VirtualHosts: vhs}
}

func get(authority string, headers map[string]string) Request {
	return Request{Authority: authority, Path: "/", Headers: headers}
}

func expect(t *testing.T, got Result, outcome Outcome, vh, rt string, clusters ...Cluster) {
	t.Helper()
	if got.Outcome != outcome || got.VirtualHost != vh || got.Route != rt {
		t.Fatalf("got outcome %q vhost %q route %q (%s), want %q %q %q", got.Outcome, got.VirtualHost, got.Route, got.Detail, outcome, vh, rt)
	}
	if len(clusters) == 0 {
		clusters = nil
	}
	if !reflect.DeepEqual(got.Clusters, clusters) {
		t.Fatalf("clusters %v, want %v", got.Clusters, clusters)
	}
}

// istioLike is what istiod builds for a Service with a fork route above its default route.
func istioLike() *route.RouteConfiguration {
	return rc(vhost("cart.shop.svc.cluster.local:80",
		[]string{"cart.shop.svc.cluster.local", "cart", "cart.shop", "10.96.0.10"},
		toCluster("forkstack-alice", "outbound|80||cart-alice.shop.svc.cluster.local", prefix("/", exactHeader("x-fork-identifier", "alice"))),
		toCluster("default", "outbound|80||cart.shop.svc.cluster.local", prefix("/")),
	))
}

// ---- virtual host selection ----

func domainsConfig() *route.RouteConfiguration {
	mk := func(name string, domains ...string) *route.VirtualHost {
		return vhost(name, domains, toCluster(name, name, prefix("/")))
	}
	return rc(
		mk("default", "*"),
		mk("prefix-short", "api.*"),
		mk("prefix-long", "api.example.*"),
		mk("suffix-short", "*.com"),
		mk("suffix-long", "*.example.com"),
		mk("exact", "api.example.com"),
		mk("with-port", "ported.example.com:8080"),
	)
}

func TestDomainPrecedence(t *testing.T) {
	c := domainsConfig()
	for _, tc := range []struct{ authority, want string }{
		{"api.example.com", "exact"},             // exact beats *.example.com, *.com, api.*, api.example.*
		{"API.Example.COM", "exact"},             // case-insensitive
		{"www.example.com", "suffix-long"},       // longest suffix wildcard
		{"www.other.com", "suffix-short"},        // shorter suffix
		{"api.example.org", "prefix-long"},       // no suffix: longest prefix wildcard
		{"api.other.org", "prefix-short"},        //
		{"api.example.com.cn", "prefix-long"},    // no suffix wildcard ends in ".cn": longest prefix
		{"other.org", "default"},                 // only "*"
		{".example.com", "suffix-short"},         // "*.example.com" needs at least one char before ".example.com"
		{"ported.example.com:8080", "with-port"}, // domain with port, authority with port
		{"ported.example.com", "suffix-long"},    // same host without port: not the ":8080" domain
		{"api.example.com:80", "prefix-long"},    // port kept (no ignore_port_in_host_matching): not exact, no suffix, prefix "api.example." matches
	} {
		got := Match(c, get(tc.authority, nil))
		if got.VirtualHost != tc.want {
			t.Errorf("authority %q: virtual host %q (%s), want %q", tc.authority, got.VirtualHost, got.Detail, tc.want)
		}
	}
}

func TestIgnorePortInHostMatching(t *testing.T) {
	c := istioLike()
	c.IgnorePortInHostMatching = true
	for _, a := range []string{"cart.shop.svc.cluster.local", "cart.shop.svc.cluster.local:80", "cart:80", "CART.shop:8080", "10.96.0.10:80"} {
		expect(t, Match(c, get(a, nil)), OutcomeRoute, "cart.shop.svc.cluster.local:80", "default",
			Cluster{"outbound|80||cart.shop.svc.cluster.local", 100})
	}
	// Without the flag the port stays part of the host: no domain matches.
	c.IgnorePortInHostMatching = false
	expect(t, Match(c, get("cart:80", nil)), OutcomeNoVirtualHost, "", "")
	// An IPv6 authority: only a trailing port is stripped.
	if got := stripPort("[::1]:80"); got != "[::1]" {
		t.Errorf("stripPort([::1]:80) = %q", got)
	}
	if got := stripPort("[::1]"); got != "[::1]" {
		t.Errorf("stripPort([::1]) = %q", got)
	}
	if got := stripPort("::1"); got != "::1" {
		t.Errorf("stripPort(::1) = %q", got)
	}
}

func TestNoVirtualHost(t *testing.T) {
	expect(t, Match(istioLike(), get("payments.billing.svc.cluster.local", nil)), OutcomeNoVirtualHost, "", "")
}

func TestDuplicateDomainIsAnError(t *testing.T) {
	c := rc(vhost("a", []string{"x"}, toCluster("a", "a", prefix("/"))), vhost("b", []string{"X"}, toCluster("b", "b", prefix("/"))))
	if got := Match(c, get("x", nil)); got.Outcome != OutcomeError {
		t.Fatalf("got %q, want error", got.Outcome)
	}
}

// ---- route order and header matching ----

func TestForkHeaderExactOnly(t *testing.T) {
	c := istioLike()
	alice := Cluster{"outbound|80||cart-alice.shop.svc.cluster.local", 100}
	base := Cluster{"outbound|80||cart.shop.svc.cluster.local", 100}
	vh := "cart.shop.svc.cluster.local:80"
	expect(t, Match(c, get("cart.shop.svc.cluster.local", map[string]string{"x-fork-identifier": "alice"})), OutcomeRoute, vh, "forkstack-alice", alice)
	for _, v := range []string{"alice2", "alic", "Alice", " alice", "alice "} {
		expect(t, Match(c, get("cart.shop.svc.cluster.local", map[string]string{"x-fork-identifier": v})), OutcomeRoute, vh, "default", base)
	}
	expect(t, Match(c, get("cart", nil)), OutcomeRoute, vh, "default", base)
	expect(t, Match(c, get("cart", map[string]string{"x-other": "alice"})), OutcomeRoute, vh, "default", base)
}

func TestRouteOrderCatchAllFirst(t *testing.T) {
	c := istioLike()
	rs := c.VirtualHosts[0].Routes
	c.VirtualHosts[0].Routes = []*route.Route{rs[1], rs[0]} // default moved above the fork route
	got := Match(c, get("cart", map[string]string{"x-fork-identifier": "alice"}))
	expect(t, got, OutcomeRoute, "cart.shop.svc.cluster.local:80", "default", Cluster{"outbound|80||cart.shop.svc.cluster.local", 100})
	if got.RouteIndex != 0 {
		t.Fatalf("route index %d", got.RouteIndex)
	}
}

func TestNoRoute(t *testing.T) {
	c := istioLike()
	c.VirtualHosts[0].Routes = c.VirtualHosts[0].Routes[:1] // only the header route
	expect(t, Match(c, get("cart", nil)), OutcomeNoRoute, "cart.shop.svc.cluster.local:80", "")
	c.VirtualHosts[0].Routes = nil
	expect(t, Match(c, get("cart", nil)), OutcomeNoRoute, "cart.shop.svc.cluster.local:80", "")
}

func matchHeaders(t *testing.T, h *route.HeaderMatcher, headers map[string]string) bool {
	t.Helper()
	c := rc(vhost("v", []string{"*"}, toCluster("hit", "hit", prefix("/", h))))
	got := Match(c, get("x", headers))
	switch got.Outcome {
	case OutcomeRoute:
		return true
	case OutcomeNoRoute:
		return false
	}
	t.Fatalf("outcome %q: %s", got.Outcome, got.Detail)
	return false
}

func TestRegexIsAnchored(t *testing.T) {
	h := regexHeader("x-fork-identifier", "alice|bob")
	for v, want := range map[string]bool{"alice": true, "bob": true, "alice2": false, "xalice": false, "alicebob": false, "": false} {
		if got := matchHeaders(t, h, map[string]string{"x-fork-identifier": v}); got != want {
			t.Errorf("regex alice|bob on %q: %v, want %v", v, got, want)
		}
	}
	if matchHeaders(t, h, nil) {
		t.Error("regex on a missing header matched")
	}
	// An invalid regex is an error, not a non-match.
	c := rc(vhost("v", []string{"*"}, toCluster("hit", "hit", prefix("/", regexHeader("x", "(")))))
	if got := Match(c, get("x", map[string]string{"x": "a"})); got.Outcome != OutcomeError {
		t.Errorf("invalid regex: %q", got.Outcome)
	}
}

func TestStringMatchers(t *testing.T) {
	sm := func(m *matcher.StringMatcher) *route.HeaderMatcher {
		return &route.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &route.HeaderMatcher_StringMatch{StringMatch: m}}
	}
	for _, tc := range []struct {
		h    *route.HeaderMatcher
		v    string
		want bool
	}{
		{sm(&matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: "ali"}}), "alice", true},
		{sm(&matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: "ali"}}), "ALICE", false},
		{sm(&matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: "ali"}, IgnoreCase: true}), "ALICE", true},
		{sm(&matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Suffix{Suffix: "ce"}}), "alice", true},
		{sm(&matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Contains{Contains: "lic"}}), "alice", true},
		{sm(&matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: "alice"}, IgnoreCase: true}), "ALICE", true},
		{sm(&matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: "alice"}}), "ALICE", false},
		{&route.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &route.HeaderMatcher_ExactMatch{ExactMatch: "alice"}}, "alice", true},
		{&route.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &route.HeaderMatcher_ExactMatch{ExactMatch: "alice"}}, "alice2", false},
		{&route.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &route.HeaderMatcher_PrefixMatch{PrefixMatch: "al"}}, "alice", true},
		{&route.HeaderMatcher{Name: "X", HeaderMatchSpecifier: &route.HeaderMatcher_SuffixMatch{SuffixMatch: "ce"}}, "alice", true},
	} {
		if got := matchHeaders(t, tc.h, map[string]string{"x": tc.v}); got != tc.want {
			t.Errorf("%v on %q: %v, want %v", tc.h, tc.v, got, tc.want)
		}
	}
}

func TestInvertAndPresent(t *testing.T) {
	inv := exactHeader("x-fork-identifier", "alice")
	inv.InvertMatch = true
	if matchHeaders(t, inv, map[string]string{"x-fork-identifier": "alice"}) {
		t.Error("inverted exact matched its value")
	}
	if !matchHeaders(t, inv, map[string]string{"x-fork-identifier": "bob"}) {
		t.Error("inverted exact did not match another value")
	}
	if matchHeaders(t, inv, nil) {
		t.Error("inverted exact matched a missing header (Envoy: no match unless treat_missing_header_as_empty)")
	}
	inv.TreatMissingHeaderAsEmpty = true
	if !matchHeaders(t, inv, nil) {
		t.Error("inverted exact with treat_missing_header_as_empty did not match a missing header")
	}

	present := &route.HeaderMatcher{Name: "x-fork-identifier", HeaderMatchSpecifier: &route.HeaderMatcher_PresentMatch{PresentMatch: true}}
	if !matchHeaders(t, present, map[string]string{"x-fork-identifier": ""}) || matchHeaders(t, present, nil) {
		t.Error("present_match: true")
	}
	present.InvertMatch = true
	if matchHeaders(t, present, map[string]string{"x-fork-identifier": "a"}) || !matchHeaders(t, present, nil) {
		t.Error("present_match: true, invert_match")
	}
	absent := &route.HeaderMatcher{Name: "x-fork-identifier", HeaderMatchSpecifier: &route.HeaderMatcher_PresentMatch{PresentMatch: false}}
	if matchHeaders(t, absent, map[string]string{"x-fork-identifier": "a"}) || !matchHeaders(t, absent, nil) {
		t.Error("present_match: false")
	}
	// Pseudo-headers (Istio's authority/method/scheme matches).
	m := exactHeader(":method", "POST")
	c := rc(vhost("v", []string{"*"}, toCluster("post", "post", prefix("/", m))))
	if got := Match(c, Request{Authority: "a", Method: "POST"}); got.Route != "post" {
		t.Errorf(":method POST: %q", got.Outcome)
	}
	if got := Match(c, Request{Authority: "a"}); got.Outcome != OutcomeNoRoute {
		t.Errorf(":method default GET matched POST: %q", got.Outcome)
	}
}

// ---- path and query ----

func TestPathMatchers(t *testing.T) {
	pm := func(name string, m *route.RouteMatch) *route.Route { return toCluster(name, name, m) }
	c := rc(vhost("v", []string{"*"},
		pm("exact", &route.RouteMatch{PathSpecifier: &route.RouteMatch_Path{Path: "/exact"}}),
		pm("regex", &route.RouteMatch{PathSpecifier: &route.RouteMatch_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: "/items/[0-9]+"}}}),
		pm("sep", &route.RouteMatch{PathSpecifier: &route.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/api"}}),
		pm("insensitive", &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/CI"}, CaseSensitive: wrapperspb.Bool(false)}),
		pm("sensitive", &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/Cs"}}),
	))
	for path, want := range map[string]string{
		"/exact": "exact", "/exact?q=1": "exact", "/exact/": "", "/Exact": "",
		"/items/12": "regex", "/items/12?x": "regex", "/items/12/x": "", "/x/items/12": "",
		"/api": "sep", "/api/": "sep", "/api/v1": "sep", "/apiv1": "", "/api?x=1": "sep",
		"/ci/x": "insensitive", "/CI": "insensitive", "/Cs": "sensitive", "/cs": "",
	} {
		got := Match(c, Request{Authority: "a", Path: path})
		if got.Route != want || (want == "" && got.Outcome != OutcomeNoRoute) {
			t.Errorf("path %q: route %q (%s), want %q", path, got.Route, got.Outcome, want)
		}
	}
}

func TestQueryParameters(t *testing.T) {
	q := func(name string, m *route.QueryParameterMatcher) *route.Route {
		return toCluster(name, name, &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}, QueryParameters: []*route.QueryParameterMatcher{m}})
	}
	c := rc(vhost("v", []string{"*"},
		q("fork", &route.QueryParameterMatcher{Name: "fork", QueryParameterMatchSpecifier: &route.QueryParameterMatcher_StringMatch{
			StringMatch: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: "alice"}}}}),
		q("debug", &route.QueryParameterMatcher{Name: "debug", QueryParameterMatchSpecifier: &route.QueryParameterMatcher_PresentMatch{PresentMatch: true}}),
	))
	for path, want := range map[string]string{
		"/?fork=alice": "fork", "/x?a=1&fork=alice": "fork", "/?fork=alice2": "", "/?fork=bob&fork=alice": "",
		"/?debug": "debug", "/?debug=0": "debug", "/": "", "/?fork=alice2&debug=1": "debug",
	} {
		if got := Match(c, Request{Authority: "a", Path: path}); got.Route != want {
			t.Errorf("path %q: route %q (%s), want %q", path, got.Route, got.Outcome, want)
		}
	}
}

// ---- actions ----

func TestWeightedClusters(t *testing.T) {
	r := &route.Route{Name: "split", Match: prefix("/"), Action: &route.Route_Route{Route: &route.RouteAction{
		ClusterSpecifier: &route.RouteAction_WeightedClusters{WeightedClusters: &route.WeightedCluster{Clusters: []*route.WeightedCluster_ClusterWeight{
			{Name: "outbound|8080|v1|payments.billing.svc.cluster.local", Weight: wrapperspb.UInt32(90)},
			{Name: "outbound|8080||payments.billing.svc.cluster.local", Weight: wrapperspb.UInt32(10)},
		}}}}}}
	expect(t, Match(rc(vhost("p", []string{"payments"}, r)), get("payments", nil)), OutcomeRoute, "p", "split",
		Cluster{"outbound|8080|v1|payments.billing.svc.cluster.local", 90},
		Cluster{"outbound|8080||payments.billing.svc.cluster.local", 10})
}

func TestOtherActions(t *testing.T) {
	c := rc(vhost("v", []string{"*"},
		&route.Route{Name: "dr", Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_Path{Path: "/dr"}},
			Action: &route.Route_DirectResponse{DirectResponse: &route.DirectResponseAction{Status: 503}}},
		&route.Route{Name: "redir", Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_Path{Path: "/old"}},
			Action: &route.Route_Redirect{Redirect: &route.RedirectAction{HostRedirect: "new.example.com"}}},
		&route.Route{Name: "hdr", Match: prefix("/"), Action: &route.Route_Route{Route: &route.RouteAction{
			ClusterSpecifier: &route.RouteAction_ClusterHeader{ClusterHeader: "x-cluster"}}}},
	))
	if got := Match(c, Request{Authority: "a", Path: "/dr"}); got.Outcome != OutcomeDirectResponse || !strings.Contains(got.Detail, "503") {
		t.Errorf("direct response: %+v", got)
	}
	if got := Match(c, Request{Authority: "a", Path: "/old"}); got.Outcome != OutcomeRedirect || !strings.Contains(got.Detail, "new.example.com") {
		t.Errorf("redirect: %+v", got)
	}
	if got := Match(c, Request{Authority: "a", Path: "/x"}); got.Outcome != OutcomeError || got.Route != "hdr" {
		t.Errorf("cluster_header: %+v", got)
	}
}

func TestUnimplementedFailsLoudly(t *testing.T) {
	custom := &route.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &route.HeaderMatcher_StringMatch{
		StringMatch: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Custom{}}}}
	withTLS := prefix("/")
	withTLS.TlsContext = &route.RouteMatch_TlsContextMatchOptions{}
	for name, m := range map[string]*route.RouteMatch{
		"custom string matcher": prefix("/", custom),
		"tls_context":           withTLS,
		"no path specifier":     {},
	} {
		c := rc(vhost("v", []string{"*"}, toCluster("r", "r", m)))
		if got := Match(c, get("a", map[string]string{"x": "1"})); got.Outcome != OutcomeError || got.Detail == "" {
			t.Errorf("%s: outcome %q", name, got.Outcome)
		}
	}
	// A route below the one that matches is never evaluated, so it cannot fail the request.
	c := rc(vhost("v", []string{"*"}, toCluster("first", "first", prefix("/")), toCluster("r", "r", withTLS)))
	if got := Match(c, get("a", nil)); got.Outcome != OutcomeRoute || got.Route != "first" {
		t.Errorf("first route: %+v", got)
	}
}
