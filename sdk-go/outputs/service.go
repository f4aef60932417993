package outputs

import "encoding/json"

// ServiceBuilder is a v1 Service; see Service.
type ServiceBuilder struct {
	meta     metadata
	selector map[string]string
	ports    []map[string]any
}

// Service starts a v1 Service named name selecting the pods labelled app: name (until Selector
// sets others).
func Service(name string) *ServiceBuilder {
	return &ServiceBuilder{meta: metadata{name: name}}
}

// Namespace sets metadata.namespace.
func (s *ServiceBuilder) Namespace(namespace string) *ServiceBuilder {
	s.meta.namespace = namespace
	return s
}

// Label adds a label to the Service.
func (s *ServiceBuilder) Label(key, value string) *ServiceBuilder {
	s.meta.label(key, value)
	return s
}

// Selector adds a label to the pod selector; the first call replaces the default app: name.
func (s *ServiceBuilder) Selector(key, value string) *ServiceBuilder {
	if s.selector == nil {
		s.selector = map[string]string{}
	}
	s.selector[key] = value
	return s
}

// Port adds a TCP port named name forwarding port to targetPort.
func (s *ServiceBuilder) Port(name string, port, targetPort int) *ServiceBuilder {
	s.ports = append(s.ports, map[string]any{"name": name, "port": port, "targetPort": targetPort, "protocol": "TCP"})
	return s
}

// MarshalJSON is the Service object.
func (s *ServiceBuilder) MarshalJSON() ([]byte, error) {
	selector := s.selector
	if len(selector) == 0 {
		selector = map[string]string{"app": s.meta.name}
	}
	ports := s.ports
	if ports == nil {
		ports = []map[string]any{}
	}
	return json.Marshal(map[string]any{
		"apiVersion": "v1",
		"kind":       "Service",
		"metadata":   s.meta.json(),
		"spec":       map[string]any{"selector": selector, "ports": ports},
	})
}
