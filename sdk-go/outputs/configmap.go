package outputs

import "encoding/json"

// ConfigMapBuilder is a v1 ConfigMap of string data; see ConfigMap.
type ConfigMapBuilder struct {
	meta metadata
	data map[string]string
}

// ConfigMap starts a v1 ConfigMap named name.
func ConfigMap(name string) *ConfigMapBuilder {
	return &ConfigMapBuilder{meta: metadata{name: name}, data: map[string]string{}}
}

// Namespace sets metadata.namespace.
func (c *ConfigMapBuilder) Namespace(namespace string) *ConfigMapBuilder {
	c.meta.namespace = namespace
	return c
}

// Label adds a label.
func (c *ConfigMapBuilder) Label(key, value string) *ConfigMapBuilder {
	c.meta.label(key, value)
	return c
}

// Data sets the entry key to value.
func (c *ConfigMapBuilder) Data(key, value string) *ConfigMapBuilder {
	c.data[key] = value
	return c
}

// MarshalJSON is the ConfigMap object.
func (c *ConfigMapBuilder) MarshalJSON() ([]byte, error) {
	object := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": c.meta.json()}
	if len(c.data) > 0 {
		object["data"] = c.data
	}
	return json.Marshal(object)
}
