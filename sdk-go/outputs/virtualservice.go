package outputs

import "encoding/json"

// VirtualServiceBuilder is an Istio networking.istio.io/v1 VirtualService splitting HTTP traffic
// between weighted destinations; see VirtualService.
type VirtualServiceBuilder struct {
	meta     metadata
	hosts    []string
	gateways []string
	routes   [][]*DestinationBuilder
}

// VirtualService starts a VirtualService named name; its host is name until Host adds others.
func VirtualService(name string) *VirtualServiceBuilder {
	return &VirtualServiceBuilder{meta: metadata{name: name}}
}

// Namespace sets metadata.namespace.
func (v *VirtualServiceBuilder) Namespace(namespace string) *VirtualServiceBuilder {
	v.meta.namespace = namespace
	return v
}

// Label adds a label.
func (v *VirtualServiceBuilder) Label(key, value string) *VirtualServiceBuilder {
	v.meta.label(key, value)
	return v
}

// Host adds a host the routes apply to.
func (v *VirtualServiceBuilder) Host(host string) *VirtualServiceBuilder {
	v.hosts = append(v.hosts, host)
	return v
}

// Gateway adds a gateway the routes apply to (default: the mesh).
func (v *VirtualServiceBuilder) Gateway(gateway string) *VirtualServiceBuilder {
	v.gateways = append(v.gateways, gateway)
	return v
}

// Route adds an HTTP route (without matches) splitting requests between these destinations.
func (v *VirtualServiceBuilder) Route(destinations ...*DestinationBuilder) *VirtualServiceBuilder {
	v.routes = append(v.routes, destinations)
	return v
}

// MarshalJSON is the VirtualService object.
func (v *VirtualServiceBuilder) MarshalJSON() ([]byte, error) {
	hosts := v.hosts
	if len(hosts) == 0 {
		hosts = []string{v.meta.name}
	}
	spec := map[string]any{"hosts": hosts}
	if len(v.gateways) > 0 {
		spec["gateways"] = v.gateways
	}
	http := []any{}
	for _, route := range v.routes {
		destinations := []any{}
		for _, d := range route {
			destinations = append(destinations, d.json())
		}
		http = append(http, map[string]any{"route": destinations})
	}
	spec["http"] = http
	return json.Marshal(map[string]any{
		"apiVersion": "networking.istio.io/v1",
		"kind":       "VirtualService",
		"metadata":   v.meta.json(),
		"spec":       spec,
	})
}

// DestinationBuilder is a weighted destination of a VirtualService route; see Destination.
type DestinationBuilder struct {
	host   string
	subset string
	port   int
	weight *int
}

// Destination is the service host (a name in the namespace, or a FQDN).
func Destination(host string) *DestinationBuilder { return &DestinationBuilder{host: host} }

// Subset selects a DestinationRule subset.
func (d *DestinationBuilder) Subset(subset string) *DestinationBuilder {
	d.subset = subset
	return d
}

// Port sets the destination port.
func (d *DestinationBuilder) Port(port int) *DestinationBuilder {
	d.port = port
	return d
}

// Weight sets the share of requests, in percent.
func (d *DestinationBuilder) Weight(weight int) *DestinationBuilder {
	d.weight = &weight
	return d
}

func (d *DestinationBuilder) json() map[string]any {
	destination := map[string]any{"host": d.host}
	if d.subset != "" {
		destination["subset"] = d.subset
	}
	if d.port != 0 {
		destination["port"] = map[string]any{"number": d.port}
	}
	out := map[string]any{"destination": destination}
	if d.weight != nil {
		out["weight"] = *d.weight
	}
	return out
}
