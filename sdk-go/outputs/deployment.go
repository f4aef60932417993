package outputs

import (
	"encoding/json"
	"fmt"
)

// DeploymentBuilder is an apps/v1 Deployment; see Deployment.
type DeploymentBuilder struct {
	meta      metadata
	selector  map[string]string
	podLabels map[string]string
	replicas  *int32
	image     string
	ports     []int
	template  map[string]any
	err       error
}

// Deployment starts an apps/v1 Deployment named name. Its pods are selected by the selector
// labels (app: name unless SelectorLabel sets others), which are also put on the pod template.
// The first container gets Image and ContainerPorts; without TemplateFrom, that container is
// created and named after the Deployment. Problems (no image and no template, a TemplateFrom
// source without a pod template) are reported when it is marshalled.
func Deployment(name string) *DeploymentBuilder {
	return &DeploymentBuilder{meta: metadata{name: name}, podLabels: map[string]string{}}
}

// Namespace sets metadata.namespace.
func (d *DeploymentBuilder) Namespace(namespace string) *DeploymentBuilder {
	d.meta.namespace = namespace
	return d
}

// Label adds a label to the Deployment and to its pods (not to the immutable selector).
func (d *DeploymentBuilder) Label(key, value string) *DeploymentBuilder {
	d.meta.label(key, value)
	d.podLabels[key] = value
	return d
}

// SelectorLabel adds a label to the selector and to the pods; the first call replaces the
// default app: name.
func (d *DeploymentBuilder) SelectorLabel(key, value string) *DeploymentBuilder {
	if d.selector == nil {
		d.selector = map[string]string{}
	}
	d.selector[key] = value
	return d
}

// Replicas sets spec.replicas.
func (d *DeploymentBuilder) Replicas(replicas int32) *DeploymentBuilder {
	d.replicas = &replicas
	return d
}

// Image sets the image of the first container.
func (d *DeploymentBuilder) Image(image string) *DeploymentBuilder {
	d.image = image
	return d
}

// ContainerPort adds a TCP port to the first container (once, however often it is added).
func (d *DeploymentBuilder) ContainerPort(port int) *DeploymentBuilder {
	for _, p := range d.ports {
		if p == port {
			return d
		}
	}
	d.ports = append(d.ports, port)
	return d
}

// TemplateFrom starts from the pod template (spec.template) of existing, a Deployment as a typed
// object or parsed JSON. Image, ports and labels set on this builder apply on top.
func (d *DeploymentBuilder) TemplateFrom(existing any) *DeploymentBuilder {
	raw, err := json.Marshal(existing)
	var object struct {
		Spec struct {
			Template map[string]any `json:"template"`
		} `json:"spec"`
	}
	if err == nil {
		err = json.Unmarshal(raw, &object)
	}
	switch {
	case err != nil && d.err == nil:
		d.err = fmt.Errorf("deployment %q: TemplateFrom could not read its source: %w", d.meta.name, err)
	case object.Spec.Template == nil && d.err == nil:
		d.err = fmt.Errorf("deployment %q: TemplateFrom got an object without spec.template", d.meta.name)
	default:
		d.template = object.Spec.Template
	}
	return d
}

// MarshalJSON is the Deployment object.
func (d *DeploymentBuilder) MarshalJSON() ([]byte, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.template == nil && d.image == "" {
		return nil, fmt.Errorf("deployment %q needs an image or a template", d.meta.name)
	}
	selector := d.selector
	if len(selector) == 0 {
		selector = map[string]string{"app": d.meta.name}
	}
	template := d.template
	if template == nil {
		template = map[string]any{}
	}
	labels := objectAt(template, "metadata", "labels")
	for k, v := range d.podLabels {
		labels[k] = v
	}
	for k, v := range selector {
		labels[k] = v
	}
	podSpec := objectAt(template, "spec")
	containers, _ := podSpec["containers"].([]any)
	if len(containers) == 0 {
		containers = []any{map[string]any{"name": d.meta.name}}
		podSpec["containers"] = containers
	}
	if first, ok := containers[0].(map[string]any); ok {
		if d.image != "" {
			first["image"] = d.image
		}
		if len(d.ports) > 0 {
			ports, _ := first["ports"].([]any)
		next:
			for _, port := range d.ports {
				for _, p := range ports {
					if pm, ok := p.(map[string]any); ok && fmt.Sprint(pm["containerPort"]) == fmt.Sprint(port) {
						continue next
					}
				}
				ports = append(ports, map[string]any{"containerPort": port, "protocol": "TCP"})
			}
			first["ports"] = ports
		}
	}
	spec := map[string]any{"selector": map[string]any{"matchLabels": selector}, "template": template}
	if d.replicas != nil {
		spec["replicas"] = *d.replicas
	}
	return json.Marshal(map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   d.meta.json(),
		"spec":       spec,
	})
}

// objectAt is the JSON object at path under root, replacing anything that is not an object.
func objectAt(root map[string]any, path ...string) map[string]any {
	node := root
	for _, key := range path {
		next, ok := node[key].(map[string]any)
		if !ok {
			next = map[string]any{}
			node[key] = next
		}
		node = next
	}
	return node
}
