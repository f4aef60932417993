// Package outputs builds the Kubernetes objects a phase most often returns, as values that
// marshal to the JSON the scheduler applies: pass them to autopilot.Outcome.Output.
//
//	autopilot.Next("Analyzing").
//		Output(outputs.Deployment("web-canary").Image("web:1.1").Replicas(1)).
//		Output(outputs.VirtualService("web").Route(
//			outputs.Destination("web").Subset("stable").Weight(90),
//			outputs.Destination("web").Subset("canary").Weight(10)))
//
// Namespaced objects without a namespace get the resource's; the scheduler sets the owner
// reference and its labels.
package outputs

// metadata is the part of metadata the builders set.
type metadata struct {
	name      string
	namespace string
	labels    map[string]string
}

func (m metadata) json() map[string]any {
	out := map[string]any{"name": m.name}
	if m.namespace != "" {
		out["namespace"] = m.namespace
	}
	if len(m.labels) > 0 {
		out["labels"] = copyMap(m.labels)
	}
	return out
}

func (m *metadata) label(key, value string) {
	if m.labels == nil {
		m.labels = map[string]string{}
	}
	m.labels[key] = value
}

func copyMap(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
