package kube

import (
	"strings"
	"testing"
)

func TestDecodeManifests(t *testing.T) {
	objs, err := decodeManifests([]byte(`
# leading comment
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}
- {apiVersion: v1, kind: Secret, metadata: {name: c, namespace: other}}
---
{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "d"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
	}
	if want := "ConfigMap//a ConfigMap//b Secret/other/c Namespace//d"; strings.Join(got, " ") != want {
		t.Errorf("decoded %v, want %s", got, want)
	}

	for _, tc := range []struct{ in, err string }{
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: x-}\n", "document 1 (ConfigMap): no metadata.name"},
		{"---\nkind: ConfigMap\nmetadata: {name: x}\n", "document 1: no kind or apiVersion"},
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nmetadata: [\n", "decode manifest document 2"},
	} {
		if _, err := decodeManifests([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("decodeManifests(%q) = %v, want %q", tc.in, err, tc.err)
		}
	}
}
