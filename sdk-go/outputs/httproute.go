package outputs

import "encoding/json"

// HTTPRouteBuilder is a Gateway API gateway.networking.k8s.io/v1 HTTPRoute splitting traffic
// between weighted backends; see HTTPRoute.
type HTTPRouteBuilder struct {
	meta      metadata
	parents   []*ParentRefBuilder
	hostnames []string
	rules     [][]*BackendBuilder
}

// HTTPRoute starts an HTTPRoute named name.
func HTTPRoute(name string) *HTTPRouteBuilder {
	return &HTTPRouteBuilder{meta: metadata{name: name}}
}

// Namespace sets metadata.namespace.
func (r *HTTPRouteBuilder) Namespace(namespace string) *HTTPRouteBuilder {
	r.meta.namespace = namespace
	return r
}

// Label adds a label.
func (r *HTTPRouteBuilder) Label(key, value string) *HTTPRouteBuilder {
	r.meta.label(key, value)
	return r
}

// Parent attaches the route to the Gateway name (in the route's namespace).
func (r *HTTPRouteBuilder) Parent(name string) *HTTPRouteBuilder {
	return r.ParentRef(GatewayParent(name))
}

// ParentService attaches the route to the Service name: a mesh (GAMMA) route for traffic to it.
func (r *HTTPRouteBuilder) ParentService(name string) *HTTPRouteBuilder {
	return r.ParentRef(ServiceParent(name))
}

// ParentRef attaches the route to any parent.
func (r *HTTPRouteBuilder) ParentRef(parent *ParentRefBuilder) *HTTPRouteBuilder {
	r.parents = append(r.parents, parent)
	return r
}

// Hostname adds a hostname the route matches.
func (r *HTTPRouteBuilder) Hostname(hostname string) *HTTPRouteBuilder {
	r.hostnames = append(r.hostnames, hostname)
	return r
}

// Rule adds a rule (without matches) sending requests to these weighted backends.
func (r *HTTPRouteBuilder) Rule(backends ...*BackendBuilder) *HTTPRouteBuilder {
	r.rules = append(r.rules, backends)
	return r
}

// MarshalJSON is the HTTPRoute object.
func (r *HTTPRouteBuilder) MarshalJSON() ([]byte, error) {
	parents := []any{}
	for _, p := range r.parents {
		parents = append(parents, p.json())
	}
	spec := map[string]any{"parentRefs": parents}
	if len(r.hostnames) > 0 {
		spec["hostnames"] = r.hostnames
	}
	rules := []any{}
	for _, rule := range r.rules {
		refs := []any{}
		for _, b := range rule {
			refs = append(refs, b.json())
		}
		rules = append(rules, map[string]any{"backendRefs": refs})
	}
	spec["rules"] = rules
	return json.Marshal(map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1",
		"kind":       "HTTPRoute",
		"metadata":   r.meta.json(),
		"spec":       spec,
	})
}

// ParentRefBuilder is what an HTTPRoute attaches to.
type ParentRefBuilder struct {
	group, kind        *string
	name               string
	namespace, section string
}

// GatewayParent is the Gateway name (the Gateway API's default parent kind).
func GatewayParent(name string) *ParentRefBuilder { return &ParentRefBuilder{name: name} }

// ServiceParent is the Service name (core group), for mesh routing.
func ServiceParent(name string) *ParentRefBuilder {
	group, kind := "", "Service"
	return &ParentRefBuilder{group: &group, kind: &kind, name: name}
}

// Namespace sets the parent's namespace (default: the route's).
func (p *ParentRefBuilder) Namespace(namespace string) *ParentRefBuilder {
	p.namespace = namespace
	return p
}

// SectionName selects one listener of the Gateway (or port name of the Service).
func (p *ParentRefBuilder) SectionName(section string) *ParentRefBuilder {
	p.section = section
	return p
}

func (p *ParentRefBuilder) json() map[string]any {
	out := map[string]any{"name": p.name}
	if p.group != nil {
		out["group"] = *p.group
	}
	if p.kind != nil {
		out["kind"] = *p.kind
	}
	if p.namespace != "" {
		out["namespace"] = p.namespace
	}
	if p.section != "" {
		out["sectionName"] = p.section
	}
	return out
}

// BackendBuilder is a weighted Service backend of an HTTPRoute rule.
type BackendBuilder struct {
	name   string
	port   int
	weight *int
}

// Backend is the Service name.
func Backend(name string) *BackendBuilder { return &BackendBuilder{name: name} }

// Port sets the Service port.
func (b *BackendBuilder) Port(port int) *BackendBuilder {
	b.port = port
	return b
}

// Weight sets the backend's relative weight.
func (b *BackendBuilder) Weight(weight int) *BackendBuilder {
	b.weight = &weight
	return b
}

func (b *BackendBuilder) json() map[string]any {
	out := map[string]any{"name": b.name}
	if b.port != 0 {
		out["port"] = b.port
	}
	if b.weight != nil {
		out["weight"] = *b.weight
	}
	return out
}
