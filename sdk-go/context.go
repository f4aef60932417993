package autopilot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Context is what a phase handler is given for one call: the custom resource with its spec and
// statusInfo already typed (S and I), the phase's inputs, and facts about the call.
//
// It is also a context.Context: it is cancelled when the call is, and its Deadline is the
// scheduler's deadline for the call.
type Context[S, I any] struct {
	context.Context

	phase        string
	resource     map[string]any
	spec         S
	statusInfo   *I
	conditions   []Condition
	objects      map[string]objectInput
	metrics      map[string]Metric
	traces       map[string]Trace
	events       map[string]eventInput
	attempt      uint32
	tag          string
	generation   int64
	operatorName string
	traceparent  string
}

// objectInput is one object input: the objects, or why the scheduler could not gather them.
type objectInput struct {
	items []json.RawMessage
	err   string
}

// Phase is the phase being run ("" in a Finalize handler).
func (c *Context[S, I]) Phase() string { return c.phase }

// Name is the resource's metadata.name.
func (c *Context[S, I]) Name() string { return c.metadataString("name") }

// Namespace is the resource's metadata.namespace ("" for a cluster-scoped resource).
func (c *Context[S, I]) Namespace() string { return c.metadataString("namespace") }

// UID is the resource's metadata.uid.
func (c *Context[S, I]) UID() string { return c.metadataString("uid") }

// Generation is the resource's metadata.generation when the request was built.
func (c *Context[S, I]) Generation() int64 { return c.generation }

// Labels are the resource's labels (never nil).
func (c *Context[S, I]) Labels() map[string]string { return c.metadataMap("labels") }

// Annotations are the resource's annotations (never nil).
func (c *Context[S, I]) Annotations() map[string]string { return c.metadataMap("annotations") }

// Resource is the whole custom resource (apiVersion, kind, metadata, spec, status) as parsed
// JSON; numbers are json.Number, so int64 values stay exact.
func (c *Context[S, I]) Resource() map[string]any { return c.resource }

// Spec is the resource's spec, typed.
func (c *Context[S, I]) Spec() S { return c.spec }

// StatusInfo is the statusInfo the worker returned last time, typed; nil before the first one.
func (c *Context[S, I]) StatusInfo() *I { return c.statusInfo }

// Conditions are the resource's current status.conditions.
func (c *Context[S, I]) Conditions() []Condition { return c.conditions }

// Condition is the current condition of this type, if the resource has one.
func (c *Context[S, I]) Condition(conditionType string) (Condition, bool) {
	for _, cond := range c.conditions {
		if cond.Type == conditionType {
			return cond, true
		}
	}
	return Condition{}, false
}

// Objects are the objects of the input named key in autopilot.yaml, as parsed JSON, ordered by
// namespace then name. Use [ObjectsAs] for typed objects.
//
// It fails with a retryable error when the scheduler could not gather the input (the error
// message says why), and with an invalid-request error when the phase has no input named key.
func (c *Context[S, I]) Objects(key string) ([]map[string]any, error) {
	return ObjectsAs[map[string]any](c, key)
}

// ObjectsAs are the objects of the input named key decoded as T, for example
// k8s.io/api/apps/v1.Deployment or a struct of the fields the handler reads:
//
//	deployments, err := autopilot.ObjectsAs[appsv1.Deployment](ctx, "deployments")
func ObjectsAs[T, S, I any](c *Context[S, I], key string) ([]T, error) {
	input, ok := c.objects[key]
	if !ok {
		return nil, c.missing(key)
	}
	if input.err != "" {
		return nil, Retryable("input %q is unavailable: %s", key, input.err)
	}
	out := make([]T, 0, len(input.items))
	for i, raw := range input.items {
		var item T
		if err := decode(raw, &item); err != nil {
			return nil, Invalid("objects[%q][%d]: %v", key, i, err)
		}
		out = append(out, item)
	}
	return out, nil
}

// Metric is the result of the query named key in autopilot.yaml. A query that failed is still
// returned (its Error is set and Value fails).
func (c *Context[S, I]) Metric(key string) (*Metric, error) {
	m, ok := c.metrics[key]
	if !ok {
		return nil, c.missing(key)
	}
	return &m, nil
}

// Trace is the result of the trace query named key in autopilot.yaml. A search that failed is
// still returned (its Error is set and Stats fails).
func (c *Context[S, I]) Trace(key string) (*Trace, error) {
	t, ok := c.traces[key]
	if !ok {
		return nil, c.missing(key)
	}
	return &t, nil
}

// Attempt is 1 for the first call of this phase for this object, incremented on every retry or
// re-run until the phase changes.
func (c *Context[S, I]) Attempt() uint32 { return c.attempt }

// Tag is a hash of the spec and of every input: equal tags mean equal inputs.
func (c *Context[S, I]) Tag() string { return c.tag }

// OperatorName is operatorName in autopilot.yaml.
func (c *Context[S, I]) OperatorName() string { return c.operatorName }

// Traceparent is the W3C traceparent the scheduler sent ("" when none), to continue its trace.
func (c *Context[S, I]) Traceparent() string { return c.traceparent }

func (c *Context[S, I]) missing(key string) error {
	return Invalid("phase %q has no input named %q", c.phase, key)
}

func (c *Context[S, I]) metadataString(key string) string {
	metadata, _ := c.resource["metadata"].(map[string]any)
	s, _ := metadata[key].(string)
	return s
}

func (c *Context[S, I]) metadataMap(key string) map[string]string {
	out := map[string]string{}
	metadata, _ := c.resource["metadata"].(map[string]any)
	values, _ := metadata[key].(map[string]any)
	for k, v := range values {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// decode is json.Unmarshal keeping numbers exact in untyped values.
func decode(data []byte, into any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	return d.Decode(into)
}

// ContextBuilder builds a [Context]: in tests, to call a handler as a plain function; inside the
// SDK, from each request. Setters record the first error, which Build returns.
type ContextBuilder[S, I any] struct {
	parent       context.Context
	phase        string
	resource     map[string]any
	objects      map[string]objectInput
	metrics      map[string]Metric
	traces       map[string]Trace
	events       map[string]eventInput
	attempt      uint32
	tag          string
	deadline     time.Time
	generation   *int64
	operatorName string
	traceparent  string
	err          error
}

// NewTestContext starts a builder from a minimal namespaced resource (default/test, generation
// 1, an empty spec), attempt 1 and no inputs:
//
//	ctx, err := autopilot.NewTestContext[model.Spec, model.StatusInfo]().
//		Phase("Analyzing").
//		Name("web").
//		SpecJSON(`{"target": "web"}`).
//		Metric("success-rate", autopilot.ScalarMetric(0.99)).
//		Build()
func NewTestContext[S, I any]() *ContextBuilder[S, I] {
	return &ContextBuilder[S, I]{
		parent: context.Background(),
		resource: map[string]any{
			"apiVersion": "autopilot.test/v1",
			"kind":       "Test",
			"metadata": map[string]any{
				"name":       "test",
				"namespace":  "default",
				"uid":        "00000000-0000-0000-0000-000000000000",
				"generation": json.Number("1"),
			},
			"spec": map[string]any{},
		},
		objects: map[string]objectInput{},
		metrics: map[string]Metric{},
		traces:  map[string]Trace{},
		events:  map[string]eventInput{},
		attempt: 1,
	}
}

// Phase sets the phase being run.
func (b *ContextBuilder[S, I]) Phase(phase string) *ContextBuilder[S, I] {
	b.phase = phase
	return b
}

// Resource replaces the whole custom resource with this JSON.
func (b *ContextBuilder[S, I]) Resource(resourceJSON []byte) *ContextBuilder[S, I] {
	var resource map[string]any
	if err := decode(resourceJSON, &resource); err != nil {
		b.fail(Invalid("resource: %v", err))
		return b
	}
	if resource == nil {
		resource = map[string]any{}
	}
	b.resource = resource
	return b
}

// Name sets metadata.name.
func (b *ContextBuilder[S, I]) Name(name string) *ContextBuilder[S, I] {
	b.metadata()["name"] = name
	return b
}

// Namespace sets metadata.namespace.
func (b *ContextBuilder[S, I]) Namespace(namespace string) *ContextBuilder[S, I] {
	b.metadata()["namespace"] = namespace
	return b
}

// Label adds a label to metadata.labels.
func (b *ContextBuilder[S, I]) Label(key, value string) *ContextBuilder[S, I] {
	b.submap("labels")[key] = value
	return b
}

// Annotation adds an annotation to metadata.annotations.
func (b *ContextBuilder[S, I]) Annotation(key, value string) *ContextBuilder[S, I] {
	b.submap("annotations")[key] = value
	return b
}

// Generation sets metadata.generation (and the request's generation).
func (b *ContextBuilder[S, I]) Generation(generation int64) *ContextBuilder[S, I] {
	b.metadata()["generation"] = json.Number(fmt.Sprint(generation))
	b.generation = &generation
	return b
}

// Spec sets the spec.
func (b *ContextBuilder[S, I]) Spec(spec S) *ContextBuilder[S, I] {
	b.resource["spec"] = b.toJSONValue("spec", spec)
	return b
}

// SpecJSON sets the spec from JSON text.
func (b *ContextBuilder[S, I]) SpecJSON(specJSON string) *ContextBuilder[S, I] {
	b.resource["spec"] = b.parse("spec", []byte(specJSON))
	return b
}

// StatusInfo sets status.statusInfo, as the worker returned it last time.
func (b *ContextBuilder[S, I]) StatusInfo(info I) *ContextBuilder[S, I] {
	b.status()["statusInfo"] = b.toJSONValue("statusInfo", info)
	return b
}

// StatusInfoJSON sets status.statusInfo from JSON text.
func (b *ContextBuilder[S, I]) StatusInfoJSON(infoJSON string) *ContextBuilder[S, I] {
	b.status()["statusInfo"] = b.parse("statusInfo", []byte(infoJSON))
	return b
}

// Condition adds a condition to status.conditions.
func (b *ContextBuilder[S, I]) Condition(c Condition) *ContextBuilder[S, I] {
	status := b.status()
	list, _ := status["conditions"].([]any)
	status["conditions"] = append(list, b.toJSONValue("condition", c))
	return b
}

// Objects sets the input key to these objects (anything that marshals to JSON).
func (b *ContextBuilder[S, I]) Objects(key string, objects ...any) *ContextBuilder[S, I] {
	items := make([]json.RawMessage, 0, len(objects))
	for i, o := range objects {
		raw, err := json.Marshal(o)
		if err != nil {
			b.fail(Invalid("objects[%q][%d]: %v", key, i, err))
			continue
		}
		items = append(items, raw)
	}
	b.objects[key] = objectInput{items: items}
	return b
}

// ObjectsJSON sets the input key to these objects given as JSON text.
func (b *ContextBuilder[S, I]) ObjectsJSON(key string, objects ...string) *ContextBuilder[S, I] {
	items := make([]json.RawMessage, 0, len(objects))
	for _, o := range objects {
		items = append(items, json.RawMessage(o))
	}
	b.objects[key] = objectInput{items: items}
	return b
}

// InputUnavailable marks the input key as one the scheduler could not gather.
func (b *ContextBuilder[S, I]) InputUnavailable(key, message string) *ContextBuilder[S, I] {
	b.objects[key] = objectInput{err: message}
	return b
}

// Metric sets the result of the query key.
func (b *ContextBuilder[S, I]) Metric(key string, m Metric) *ContextBuilder[S, I] {
	b.metrics[key] = m
	return b
}

// Trace sets the result of the trace query key.
func (b *ContextBuilder[S, I]) Trace(key string, t Trace) *ContextBuilder[S, I] {
	b.traces[key] = t
	return b
}

// Attempt sets the attempt number (default 1).
func (b *ContextBuilder[S, I]) Attempt(attempt uint32) *ContextBuilder[S, I] {
	b.attempt = attempt
	return b
}

// Tag sets the inputs' hash.
func (b *ContextBuilder[S, I]) Tag(tag string) *ContextBuilder[S, I] {
	b.tag = tag
	return b
}

// Deadline sets the call's deadline.
func (b *ContextBuilder[S, I]) Deadline(deadline time.Time) *ContextBuilder[S, I] {
	b.deadline = deadline
	return b
}

// OperatorName sets the operator's name.
func (b *ContextBuilder[S, I]) OperatorName(name string) *ContextBuilder[S, I] {
	b.operatorName = name
	return b
}

// Traceparent sets the W3C traceparent.
func (b *ContextBuilder[S, I]) Traceparent(traceparent string) *ContextBuilder[S, I] {
	b.traceparent = traceparent
	return b
}

// Parent sets the context.Context the built Context derives from (default Background).
func (b *ContextBuilder[S, I]) Parent(parent context.Context) *ContextBuilder[S, I] {
	b.parent = parent
	return b
}

// Build is the Context, or the first error a setter met, or an invalid-request error naming
// where the spec or statusInfo does not match S or I.
func (b *ContextBuilder[S, I]) Build() (*Context[S, I], error) {
	ctx, _, err := b.build()
	return ctx, err
}

func (b *ContextBuilder[S, I]) build() (*Context[S, I], context.CancelFunc, error) {
	if b.err != nil {
		return nil, nil, b.err
	}
	c := &Context[S, I]{
		phase:        b.phase,
		resource:     b.resource,
		objects:      b.objects,
		metrics:      b.metrics,
		traces:       b.traces,
		events:       b.events,
		attempt:      b.attempt,
		tag:          b.tag,
		operatorName: b.operatorName,
		traceparent:  b.traceparent,
	}
	if err := convert(b.resource["spec"], &c.spec); err != nil {
		return nil, nil, Invalid("spec does not match its schema: %v", err)
	}
	status, _ := b.resource["status"].(map[string]any)
	if info, ok := status["statusInfo"]; ok && info != nil {
		c.statusInfo = new(I)
		if err := convert(info, c.statusInfo); err != nil {
			return nil, nil, Invalid("statusInfo does not match its schema: %v", err)
		}
	}
	if conditions, ok := status["conditions"]; ok && conditions != nil {
		if err := convert(conditions, &c.conditions); err != nil {
			return nil, nil, Invalid("status.conditions: %v", err)
		}
	}
	if b.generation != nil {
		c.generation = *b.generation
	} else if metadata, ok := b.resource["metadata"].(map[string]any); ok {
		if n, ok := metadata["generation"].(json.Number); ok {
			c.generation, _ = n.Int64()
		}
	}
	cancel := context.CancelFunc(func() {})
	c.Context = b.parent
	if !b.deadline.IsZero() {
		c.Context, cancel = context.WithDeadline(b.parent, b.deadline)
	}
	return c, cancel, nil
}

func (b *ContextBuilder[S, I]) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

func (b *ContextBuilder[S, I]) metadata() map[string]any {
	m, ok := b.resource["metadata"].(map[string]any)
	if !ok {
		m = map[string]any{}
		b.resource["metadata"] = m
	}
	return m
}

func (b *ContextBuilder[S, I]) status() map[string]any {
	m, ok := b.resource["status"].(map[string]any)
	if !ok {
		m = map[string]any{}
		b.resource["status"] = m
	}
	return m
}

func (b *ContextBuilder[S, I]) submap(key string) map[string]any {
	metadata := b.metadata()
	m, ok := metadata[key].(map[string]any)
	if !ok {
		m = map[string]any{}
		metadata[key] = m
	}
	return m
}

func (b *ContextBuilder[S, I]) toJSONValue(what string, v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		b.fail(Invalid("%s: %v", what, err))
		return nil
	}
	return b.parse(what, raw)
}

func (b *ContextBuilder[S, I]) parse(what string, raw []byte) any {
	var out any
	if err := decode(raw, &out); err != nil {
		b.fail(Invalid("%s: %v", what, err))
	}
	return out
}

// convert re-decodes a parsed JSON value into a typed one.
func convert(from any, into any) error {
	if from == nil {
		return nil
	}
	raw, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return decode(raw, into)
}
