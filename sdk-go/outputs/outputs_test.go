package outputs_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"autopilot.dev/sdk-go/outputs"
)

func jsonOf(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func parse(t *testing.T, text string) any {
	t.Helper()
	var out any
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBuilders(t *testing.T) {
	cases := []struct {
		name string
		got  any
		want string
	}{
		{"config map", outputs.ConfigMap("settings").Label("app", "web").Data("a", "1"),
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","labels":{"app":"web"}},"data":{"a":"1"}}`},
		{"service", outputs.Service("web").Namespace("shop").Port("http", 80, 8080),
			`{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"shop"},"spec":{"selector":{"app":"web"},"ports":[{"name":"http","port":80,"targetPort":8080,"protocol":"TCP"}]}}`},
		{"deployment", outputs.Deployment("web").Label("team", "a").Image("nginx:1.27").Replicas(2).ContainerPort(80).ContainerPort(80),
			`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"team":"a"}},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web","team":"a"}},"spec":{"containers":[{"name":"web","image":"nginx:1.27","ports":[{"containerPort":80,"protocol":"TCP"}]}]}}}}`},
		{"virtual service", outputs.VirtualService("web").Route(outputs.Destination("web").Subset("stable").Weight(90), outputs.Destination("web").Subset("canary").Port(80).Weight(10)),
			`{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"web"},"spec":{"hosts":["web"],"http":[{"route":[{"destination":{"host":"web","subset":"stable"},"weight":90},{"destination":{"host":"web","subset":"canary","port":{"number":80}},"weight":10}]}]}}`},
		{"http route", outputs.HTTPRoute("web").Parent("public").ParentService("web").Hostname("shop.example.com").Rule(outputs.Backend("web-stable").Port(80).Weight(90), outputs.Backend("web-canary").Port(80).Weight(10)),
			`{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"web"},"spec":{"parentRefs":[{"name":"public"},{"group":"","kind":"Service","name":"web"}],"hostnames":["shop.example.com"],"rules":[{"backendRefs":[{"name":"web-stable","port":80,"weight":90},{"name":"web-canary","port":80,"weight":10}]}]}}`},
	}
	for _, c := range cases {
		if got, want := jsonOf(t, c.got), parse(t, c.want); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", c.name, got, want)
		}
	}
}

func TestDeploymentFromTemplate(t *testing.T) {
	primary := parse(t, `{"metadata":{"name":"web"},"spec":{"template":{"metadata":{"labels":{"app":"web","track":"stable"}},"spec":{"containers":[{"name":"app","image":"web:1.0","ports":[{"containerPort":8080}]},{"name":"proxy","image":"envoy"}]}}}}`)
	canary := outputs.Deployment("web-canary").TemplateFrom(primary).SelectorLabel("app", "web").SelectorLabel("track", "canary").Image("web:1.1").ContainerPort(8080).ContainerPort(9090)
	want := parse(t, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web-canary"},"spec":{"selector":{"matchLabels":{"app":"web","track":"canary"}},"template":{"metadata":{"labels":{"app":"web","track":"canary"}},"spec":{"containers":[{"name":"app","image":"web:1.1","ports":[{"containerPort":8080},{"containerPort":9090,"protocol":"TCP"}]},{"name":"proxy","image":"envoy"}]}}}}`)
	if got := jsonOf(t, canary); !reflect.DeepEqual(got, want) {
		t.Errorf("\n got %v\nwant %v", got, want)
	}
}

func TestDeploymentProblemsSurfaceWhenMarshalled(t *testing.T) {
	if _, err := json.Marshal(outputs.Deployment("web")); err == nil {
		t.Error("a deployment without image or template marshals")
	}
	if _, err := json.Marshal(outputs.Deployment("web").Image("x").TemplateFrom(map[string]any{"spec": map[string]any{}})); err == nil {
		t.Error("a template source without spec.template is accepted")
	}
}
