package petsfile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.starlark.net/starlark"
	"k8s.io/apimachinery/pkg/labels"
)

// KubeHost is the part of a Host that the Kubernetes builtins need. A Host
// without it makes k8s_apply and k8s_port_forward fail with a clear error.
type KubeHost interface {
	// Apply applies manifests (YAML) with server-side apply and, if wait,
	// waits for their Deployments to roll out. allowed are the contexts
	// allow_k8s_contexts() named.
	Apply(ctx context.Context, svc Key, manifests []byte, namespace string, wait bool, allowed []string) error
	// PortForward starts a long-running port-forward from 127.0.0.1:local
	// to remote on a ready pod of selector, as a server of svc.
	PortForward(ctx context.Context, svc Key, namespace, selector string, local, remote int, allowed []string) (Process, error)
}

// builtinK8sApply: k8s_apply(manifest, namespace="", wait=True). manifest is
// a YAML file or directory (relative to the calling Petsfile), or YAML text.
func (p *Project) builtinK8sApply(t *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		manifest, namespace string
		wait                = true
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "manifest", &manifest, "namespace?", &namespace, "wait?", &wait); err != nil {
		return nil, err
	}
	ctx, host, key := threadState(t)
	kh, ok := host.(KubeHost)
	if key == (Key{}) || !ok {
		return nil, fmt.Errorf("k8s_apply: only a provider may apply manifests; call it inside the function you register()")
	}
	yaml, err := readManifests(p.callerDir(t), manifest)
	if err != nil {
		return nil, fmt.Errorf("k8s_apply: %w", err)
	}
	if err := kh.Apply(ctx, key, yaml, namespace, wait, p.AllowedContexts); err != nil {
		return nil, err
	}
	return starlark.None, nil
}

// readManifests returns the YAML of a file, of every *.yaml/*.yml/*.json in
// a directory (sorted), or the text itself when it is YAML.
func readManifests(dir, manifest string) ([]byte, error) {
	if strings.Contains(manifest, "\n") || strings.Contains(manifest, "apiVersion:") {
		return []byte(manifest), nil
	}
	p := manifest
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return os.ReadFile(p)
	}
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml", "*.json"} {
		m, _ := filepath.Glob(filepath.Join(p, pat))
		files = append(files, m...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s holds no *.yaml, *.yml or *.json", manifest)
	}
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		all = append(append(all, b...), []byte("\n---\n")...)
	}
	return all, nil
}

// builtinK8sPortForward: k8s_port_forward(selector, local_port, remote_port,
// namespace="") returns a server, as start() does, for service().
func (p *Project) builtinK8sPortForward(t *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		selector, namespace string
		local, remote       int
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "selector", &selector, "local_port", &local, "remote_port", &remote, "namespace?", &namespace); err != nil {
		return nil, err
	}
	if _, err := labels.Parse(selector); err != nil || strings.TrimSpace(selector) == "" {
		return nil, fmt.Errorf("k8s_port_forward: selector %q is not a label selector; e.g. \"app=backend\"", selector)
	}
	if local <= 0 || local > 65535 || remote <= 0 || remote > 65535 {
		return nil, fmt.Errorf("k8s_port_forward: ports must be 1-65535, got %d and %d", local, remote)
	}
	ctx, host, key := threadState(t)
	kh, ok := host.(KubeHost)
	if key == (Key{}) || !ok {
		return nil, fmt.Errorf("k8s_port_forward: only a provider may forward ports; call it inside the function you register()")
	}
	proc, err := kh.PortForward(ctx, key, namespace, selector, local, remote, p.AllowedContexts)
	if err != nil {
		return nil, err
	}
	return &server{proc: proc, cmd: fmt.Sprintf("port-forward %s %d:%d", selector, local, remote)}, nil
}

// Apply and PortForward for the recorder (fingerprints): what would be done.
func (r *recorder) Apply(_ context.Context, _ Key, manifests []byte, ns string, wait bool, _ []string) error {
	r.add(fmt.Sprintf("k8s_apply %q ns=%s wait=%v", manifests, ns, wait))
	return nil
}

func (r *recorder) PortForward(_ context.Context, _ Key, ns, sel string, local, remote int, _ []string) (Process, error) {
	r.n++
	r.add(fmt.Sprintf("k8s_port_forward %s ns=%s %d:%d", sel, ns, local, remote))
	return Process{PID: -r.n}, nil
}
