package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// FieldManager is the server-side apply field manager pets applies as.
const FieldManager = "pets"

// Object names one applied object.
type Object struct {
	APIVersion string
	Kind       string
	Namespace  string // empty for cluster-scoped objects
	Name       string
	Generation int64 // metadata.generation after the apply
}

func (o Object) String() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// Apply applies every object of manifests (YAML documents separated by "---", or JSON; a
// kind: List is expanded) with server-side apply as field manager "pets", forcing conflicts
// (like `kubectl apply --server-side --force-conflicts`). Namespaced objects without a
// namespace go to namespace (the context's namespace if empty). Namespaces and
// CustomResourceDefinitions are applied first, then the rest in file order. All documents are
// decoded before anything is applied; the first failing apply stops it and is returned with
// the objects applied so far.
func (c *Client) Apply(ctx context.Context, manifests []byte, namespace string) ([]Object, error) {
	objs, err := decodeManifests(manifests)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int { return applyRank(a) - applyRank(b) })
	namespace = c.namespace(namespace)
	var applied []Object
	for _, obj := range objs {
		o, err := c.applyOne(ctx, obj, namespace)
		if err != nil {
			return applied, err
		}
		applied = append(applied, o)
	}
	return applied, nil
}

func applyRank(o *unstructured.Unstructured) int {
	switch o.GroupVersionKind().GroupKind() {
	case schema.GroupKind{Kind: "Namespace"}:
		return 0
	case schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:
		return 1
	}
	return 2
}

func decodeManifests(b []byte) ([]*unstructured.Unstructured, error) {
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var objs []*unstructured.Unstructured
	for doc := 1; ; doc++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("decode manifest document %d: %w", doc, err)
		}
		if len(m) == 0 {
			continue // empty document
		}
		u := &unstructured.Unstructured{Object: m}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				return nil, fmt.Errorf("decode manifest document %d: %w", doc, err)
			}
			for i := range list.Items {
				objs = append(objs, &list.Items[i])
			}
			continue
		}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("decode manifest document %d: no kind or apiVersion", doc)
		}
		if u.GetName() == "" {
			return nil, fmt.Errorf("decode manifest document %d (%s): no metadata.name (server-side apply cannot use generateName)", doc, u.GetKind())
		}
		objs = append(objs, u)
	}
}

func (c *Client) applyOne(ctx context.Context, obj *unstructured.Unstructured, namespace string) (Object, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.mapper.Reset() // a CRD applied just before, or a stale discovery cache
		mapping, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return Object{}, fmt.Errorf("apply %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	res := c.Dynamic.Resource(mapping.Resource)
	var out *unstructured.Unstructured
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			obj.SetNamespace(namespace)
		}
		out, err = res.Namespace(obj.GetNamespace()).Apply(ctx, obj.GetName(), obj,
			metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	} else {
		obj.SetNamespace("")
		out, err = res.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	}
	o := Object{APIVersion: obj.GetAPIVersion(), Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
	if err != nil {
		return Object{}, fmt.Errorf("apply %s: %w", o, err)
	}
	o.Generation = out.GetGeneration()
	return o, nil
}
