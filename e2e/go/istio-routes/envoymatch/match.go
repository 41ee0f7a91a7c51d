// Package envoymatch answers which virtual host and route of an Envoy RouteConfiguration an HTTP
// request selects, and what the route does with it, the way Envoy's router does
// (source/common/router/config_impl.cc: RouteMatcher::findVirtualHost, then the virtual host's
// routes in order, first match wins).
//
// Only go-control-plane types are used (no istio.io imports), so its tests compile quickly.
// Anything of a RouteConfiguration that could change the selection and is not implemented here
// (runtime fractions, TLS/metadata/filter-state/cookie matchers, the matcher tree, custom string
// matchers, cluster_header, …) gives Outcome "error" with a Detail instead of a guess.
package envoymatch

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/prototext"
)

// Outcome of matching one request.
type Outcome string

const (
	OutcomeRoute          Outcome = "route"           // a route action: Clusters says where
	OutcomeNoVirtualHost  Outcome = "no-virtual-host" // no domain matches (Envoy: 404 NR)
	OutcomeNoRoute        Outcome = "no-route"        // a virtual host, but none of its routes matches (404 NR)
	OutcomeDirectResponse Outcome = "direct-response" // route with direct_response
	OutcomeRedirect       Outcome = "redirect"        // route with redirect
	OutcomeError          Outcome = "error"           // something this package does not implement
)

// Request is the HTTP request as the sidecar's router sees it.
type Request struct {
	Authority string            // :authority (Host); may carry ":port"
	Path      string            // :path, query included; "" means "/"
	Method    string            // :method; "" means GET
	Scheme    string            // :scheme; "" means http
	Headers   map[string]string // other headers, lower-case names
}

// Cluster is one upstream cluster of the selected route with its weight (100 for a single cluster).
type Cluster struct {
	Name   string `json:"name"`
	Weight uint32 `json:"weight"`
}

// Result of Match.
type Result struct {
	Outcome     Outcome
	VirtualHost string // name of the selected virtual host ("" if none)
	Route       string // name of the selected route ("" if none or unnamed)
	RouteIndex  int    // index of the selected route in the virtual host, -1 if none
	Clusters    []Cluster
	Detail      string
}

// Match selects the virtual host for req's authority, then the first matching route.
func Match(rc *route.RouteConfiguration, req Request) Result {
	res := Result{RouteIndex: -1}
	if req.Path == "" {
		req.Path = "/"
	}
	if req.Method == "" {
		req.Method = "GET"
	}
	if req.Scheme == "" {
		req.Scheme = "http"
	}
	if rc.GetVhds() != nil {
		return errorf(res, "route configuration %q uses VHDS", rc.GetName())
	}
	if rc.GetIgnorePathParametersInPathMatching() {
		return errorf(res, "ignore_path_parameters_in_path_matching is not implemented")
	}
	authority := req.Authority
	if h := rc.GetVhostHeader(); h != "" {
		authority = header(req, strings.ToLower(h))
	}
	vh, err := SelectVirtualHost(rc, authority)
	if err != nil {
		return errorf(res, "%v", err)
	}
	if vh == nil {
		res.Outcome = OutcomeNoVirtualHost
		res.Detail = fmt.Sprintf("no virtual host of %q matches authority %q", rc.GetName(), authority)
		return res
	}
	res.VirtualHost = vh.GetName()
	if vh.GetMatcher() != nil {
		return errorf(res, "virtual host %q uses the matcher tree, not implemented", vh.GetName())
	}
	for i, r := range vh.GetRoutes() {
		ok, err := routeMatches(r.GetMatch(), req)
		if err != nil {
			return errorf(res, "virtual host %q route %d (%q): %v", vh.GetName(), i, r.GetName(), err)
		}
		if !ok {
			continue
		}
		res.Route = r.GetName()
		res.RouteIndex = i
		return action(res, r)
	}
	res.Outcome = OutcomeNoRoute
	res.Detail = fmt.Sprintf("no route of virtual host %q matches", vh.GetName())
	return res
}

func errorf(res Result, format string, args ...any) Result {
	res.Outcome = OutcomeError
	res.Detail = fmt.Sprintf(format, args...)
	return res
}

func action(res Result, r *route.Route) Result {
	switch a := r.GetAction().(type) {
	case *route.Route_Route:
		switch c := a.Route.GetClusterSpecifier().(type) {
		case *route.RouteAction_Cluster:
			res.Outcome = OutcomeRoute
			res.Clusters = []Cluster{{Name: c.Cluster, Weight: 100}}
		case *route.RouteAction_WeightedClusters:
			for _, w := range c.WeightedClusters.GetClusters() {
				if w.GetClusterHeader() != "" {
					return errorf(res, "weighted cluster with cluster_header %q is not implemented", w.GetClusterHeader())
				}
				res.Clusters = append(res.Clusters, Cluster{Name: w.GetName(), Weight: w.GetWeight().GetValue()})
			}
			res.Outcome = OutcomeRoute
		case *route.RouteAction_ClusterHeader:
			return errorf(res, "route %q takes its cluster from header %q, not implemented", r.GetName(), c.ClusterHeader)
		default:
			return errorf(res, "route %q: cluster specifier %T is not implemented", r.GetName(), c)
		}
	case *route.Route_DirectResponse:
		res.Outcome = OutcomeDirectResponse
		res.Detail = fmt.Sprintf("status %d", a.DirectResponse.GetStatus())
		if b := a.DirectResponse.GetBody(); b != nil {
			res.Detail += " body " + prototext.MarshalOptions{}.Format(b)
		}
	case *route.Route_Redirect:
		res.Outcome = OutcomeRedirect
		res.Detail = prototext.MarshalOptions{}.Format(a.Redirect)
	default:
		return errorf(res, "route %q: action %T is not implemented", r.GetName(), a)
	}
	return res
}

// SelectVirtualHost picks the virtual host for an authority as Envoy does: lower-cased (and, with
// ignore_port_in_host_matching, without its port), exact domain first, then the longest suffix
// wildcard ("*.x", "*-x"), then the longest prefix wildcard ("x.*"), then "*". A wildcard matches
// at least one character. nil if nothing matches.
func SelectVirtualHost(rc *route.RouteConfiguration, authority string) (*route.VirtualHost, error) {
	host := authority
	if rc.GetIgnorePortInHostMatching() {
		host = stripPort(host)
	}
	host = strings.ToLower(host)
	var (
		def                  *route.VirtualHost
		bestSuffix, bestPref *route.VirtualHost
		suffixLen, prefLen   = -1, -1
		seen                 = map[string]string{}
	)
	for _, vh := range rc.GetVirtualHosts() {
		for _, d := range vh.GetDomains() {
			d = strings.ToLower(d)
			if other, dup := seen[d]; dup {
				return nil, fmt.Errorf("route configuration %q: domain %q in virtual hosts %q and %q (Envoy rejects it)", rc.GetName(), d, other, vh.GetName())
			}
			seen[d] = vh.GetName()
		}
	}
	for _, vh := range rc.GetVirtualHosts() {
		for _, d := range vh.GetDomains() {
			d = strings.ToLower(d)
			switch {
			case d == "*":
				def = vh
			case d == host:
				return vh, nil
			case strings.HasPrefix(d, "*"):
				s := d[1:]
				if len(s) < len(host) && strings.HasSuffix(host, s) && len(s) > suffixLen {
					bestSuffix, suffixLen = vh, len(s)
				}
			case strings.HasSuffix(d, "*"):
				p := d[:len(d)-1]
				if len(p) < len(host) && strings.HasPrefix(host, p) && len(p) > prefLen {
					bestPref, prefLen = vh, len(p)
				}
			}
		}
	}
	switch {
	case bestSuffix != nil:
		return bestSuffix, nil
	case bestPref != nil:
		return bestPref, nil
	}
	return def, nil
}

// stripPort removes ":port" from a host (Envoy's HeaderUtility::getPortStart: the last ':' after
// any IPv6 "]" followed by digits only).
func stripPort(h string) string {
	i := strings.LastIndexByte(h, ':')
	if i < 0 || strings.LastIndexByte(h, ']') > i {
		return h
	}
	if !strings.HasPrefix(h, "[") && strings.Count(h, ":") > 1 {
		return h // bare IPv6 address without brackets
	}
	if _, err := strconv.ParseUint(h[i+1:], 10, 16); err != nil {
		return h
	}
	return h[:i]
}

func header(req Request, name string) string {
	v, _ := lookup(req, name)
	return v
}

// lookup finds a header the way Envoy's header map has it: the pseudo-headers from the request
// line, the others by lower-case name.
func lookup(req Request, name string) (string, bool) {
	switch name {
	case ":authority":
		return req.Authority, true
	case ":path":
		return req.Path, true
	case ":method":
		return req.Method, true
	case ":scheme":
		return req.Scheme, true
	}
	v, ok := req.Headers[name]
	return v, ok
}

func routeMatches(m *route.RouteMatch, req Request) (bool, error) {
	if m == nil {
		return false, fmt.Errorf("route has no match")
	}
	if m.GetRuntimeFraction() != nil {
		return false, fmt.Errorf("runtime_fraction is not implemented")
	}
	if m.GetTlsContext() != nil {
		return false, fmt.Errorf("tls_context match is not implemented")
	}
	if len(m.GetDynamicMetadata()) > 0 || len(m.GetFilterState()) > 0 || len(m.GetCookies()) > 0 {
		return false, fmt.Errorf("dynamic_metadata/filter_state/cookies matches are not implemented")
	}
	// Envoy matches headers, query parameters and the rest before the path, all must hold.
	for _, h := range m.GetHeaders() {
		ok, err := headerMatches(h, req)
		if err != nil || !ok {
			return false, err
		}
	}
	if qs := m.GetQueryParameters(); len(qs) > 0 {
		params := parseQuery(req.Path)
		for _, q := range qs {
			ok, err := queryMatches(q, params)
			if err != nil || !ok {
				return false, err
			}
		}
	}
	if m.GetGrpc() != nil && !strings.HasPrefix(header(req, "content-type"), "application/grpc") {
		return false, nil
	}
	return pathMatches(m, req.Path)
}

// pathOnly drops the query and fragment (Http::PathUtil::removeQueryAndFragment).
func pathOnly(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return p[:i]
	}
	return p
}

func pathMatches(m *route.RouteMatch, fullPath string) (bool, error) {
	p := pathOnly(fullPath)
	caseSensitive := m.GetCaseSensitive() == nil || m.GetCaseSensitive().GetValue()
	fold := func(s string) string {
		if caseSensitive {
			return s
		}
		return strings.ToLower(s)
	}
	switch ps := m.GetPathSpecifier().(type) {
	case *route.RouteMatch_Prefix:
		return strings.HasPrefix(fold(p), fold(ps.Prefix)), nil
	case *route.RouteMatch_Path:
		return fold(p) == fold(ps.Path), nil
	case *route.RouteMatch_SafeRegex:
		re, err := fullRegex(ps.SafeRegex)
		if err != nil {
			return false, err
		}
		return re.MatchString(p), nil
	case *route.RouteMatch_PathSeparatedPrefix:
		pre := ps.PathSeparatedPrefix
		if len(p) < len(pre) || !strings.HasPrefix(fold(p), fold(pre)) {
			return false, nil
		}
		return len(p) == len(pre) || p[len(pre)] == '/', nil
	case nil:
		return false, fmt.Errorf("route match has no path specifier")
	default:
		return false, fmt.Errorf("path specifier %T is not implemented", ps)
	}
}

var (
	regexMu    sync.Mutex
	regexCache = map[string]*regexp.Regexp{}
)

// fullRegex compiles an RE2 regex anchored at both ends (Envoy uses RE2::FullMatch).
func fullRegex(m *matcher.RegexMatcher) (*regexp.Regexp, error) {
	if m == nil {
		return nil, fmt.Errorf("empty regex matcher")
	}
	src := m.GetRegex()
	regexMu.Lock()
	defer regexMu.Unlock()
	if re, ok := regexCache[src]; ok {
		return re, nil
	}
	re, err := regexp.Compile(`^(?:` + src + `)$`)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %v", src, err)
	}
	regexCache[src] = re
	return re, nil
}

// stringMatches is Envoy's StringMatcherImpl.
func stringMatches(m *matcher.StringMatcher, v string) (bool, error) {
	if m == nil {
		return false, fmt.Errorf("empty string matcher")
	}
	ic := m.GetIgnoreCase()
	lower := func(s string) string {
		if ic {
			return strings.ToLower(s)
		}
		return s
	}
	switch p := m.GetMatchPattern().(type) {
	case *matcher.StringMatcher_Exact:
		return lower(v) == lower(p.Exact), nil
	case *matcher.StringMatcher_Prefix:
		return strings.HasPrefix(lower(v), lower(p.Prefix)), nil
	case *matcher.StringMatcher_Suffix:
		return strings.HasSuffix(lower(v), lower(p.Suffix)), nil
	case *matcher.StringMatcher_Contains:
		return strings.Contains(lower(v), lower(p.Contains)), nil
	case *matcher.StringMatcher_SafeRegex:
		re, err := fullRegex(p.SafeRegex)
		if err != nil {
			return false, err
		}
		return re.MatchString(v), nil
	default:
		return false, fmt.Errorf("string matcher %T is not implemented", p)
	}
}

// headerMatches is Envoy's HeaderUtility::matchHeaders for one matcher: a missing header fails
// every value matcher whatever invert_match says, unless treat_missing_header_as_empty; a present
// match compares presence, then invert_match applies.
func headerMatches(h *route.HeaderMatcher, req Request) (bool, error) {
	name := strings.ToLower(h.GetName())
	v, present := lookup(req, name)
	var want bool
	switch s := h.GetHeaderMatchSpecifier().(type) {
	case *route.HeaderMatcher_PresentMatch:
		return (present == s.PresentMatch) != h.GetInvertMatch(), nil
	case nil: // name only: presence
		return present != h.GetInvertMatch(), nil
	}
	if !present {
		if !h.GetTreatMissingHeaderAsEmpty() {
			return false, nil
		}
		v = ""
	}
	switch s := h.GetHeaderMatchSpecifier().(type) {
	case *route.HeaderMatcher_StringMatch:
		ok, err := stringMatches(s.StringMatch, v)
		if err != nil {
			return false, fmt.Errorf("header %q: %v", name, err)
		}
		want = ok
	case *route.HeaderMatcher_ExactMatch:
		want = v == s.ExactMatch
	case *route.HeaderMatcher_PrefixMatch:
		want = strings.HasPrefix(v, s.PrefixMatch)
	case *route.HeaderMatcher_SuffixMatch:
		want = strings.HasSuffix(v, s.SuffixMatch)
	case *route.HeaderMatcher_ContainsMatch:
		want = strings.Contains(v, s.ContainsMatch)
	case *route.HeaderMatcher_SafeRegexMatch:
		re, err := fullRegex(s.SafeRegexMatch)
		if err != nil {
			return false, fmt.Errorf("header %q: %v", name, err)
		}
		want = re.MatchString(v)
	case *route.HeaderMatcher_RangeMatch:
		n, err := strconv.ParseInt(v, 10, 64)
		want = err == nil && n >= s.RangeMatch.GetStart() && n < s.RangeMatch.GetEnd()
	default:
		return false, fmt.Errorf("header %q: matcher %T is not implemented", name, s)
	}
	return want != h.GetInvertMatch(), nil
}

// parseQuery splits the query string like Envoy's QueryParamsMulti::parseQueryString: no
// percent-decoding, a key without "=" has the value "".
func parseQuery(fullPath string) map[string][]string {
	out := map[string][]string{}
	i := strings.IndexByte(fullPath, '?')
	if i < 0 {
		return out
	}
	q := fullPath[i+1:]
	if j := strings.IndexByte(q, '#'); j >= 0 {
		q = q[:j]
	}
	for _, kv := range strings.Split(q, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		out[k] = append(out[k], v)
	}
	return out
}

// queryMatches is Envoy's ConfigUtility::QueryParameterMatcher: the first value of the parameter;
// an absent parameter never matches; present_match only asks for presence.
func queryMatches(q *route.QueryParameterMatcher, params map[string][]string) (bool, error) {
	vals, ok := params[q.GetName()]
	if !ok {
		return false, nil
	}
	switch s := q.GetQueryParameterMatchSpecifier().(type) {
	case *route.QueryParameterMatcher_PresentMatch, nil:
		return true, nil
	case *route.QueryParameterMatcher_StringMatch:
		ok, err := stringMatches(s.StringMatch, vals[0])
		if err != nil {
			return false, fmt.Errorf("query parameter %q: %v", q.GetName(), err)
		}
		return ok, nil
	default:
		return false, fmt.Errorf("query parameter %q: matcher %T is not implemented", q.GetName(), s)
	}
}
