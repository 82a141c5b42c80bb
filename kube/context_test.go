package kube

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckContext(t *testing.T) {
	for _, tc := range []struct {
		name, server string
		allowed      []string
		ok           bool
	}{
		{"minikube", "https://192.168.49.2:8443", nil, true},
		{"docker-desktop", "https://kubernetes.docker.internal:6443", nil, true},
		{"docker-for-desktop", "https://kubernetes.docker.internal:6443", nil, true},
		{"kind-dev", "https://127.0.0.1:40123", nil, true},
		{"kind-dev", "https://10.1.2.3:6443", nil, true}, // the name is enough
		{"k3d-mycluster", "https://0.0.0.0:6550", nil, true},
		{"rancher-desktop", "https://192.168.5.15:6443", nil, true},
		{"orbstack", "https://192.168.139.2:26443", nil, true},
		{"microk8s", "https://192.168.1.20:16443", nil, true},
		{"colima", "https://192.168.106.2:6443", nil, true},
		{"pets-test", "https://127.0.0.1:6443", nil, true},
		{"default", "https://127.0.0.1:6443", nil, true}, // k3s: any name, loopback server
		{"tunnel", "https://localhost:8001", nil, true},
		{"v6", "https://[::1]:6443", nil, true},
		{"noscheme", "127.0.0.2:6443", nil, true},

		{"prod", "https://10.0.0.1:6443", nil, false},
		{"gke_proj_zone_prod", "https://34.1.2.3", nil, false},
		{"kind-", "https://10.0.0.1:6443", nil, false},            // a bare prefix is no kind cluster
		{"minikube-prod", "https://35.1.2.3:443", nil, false},     // exact names only
		{"dev", "https://localhost.example.com:6443", nil, false}, // not loopback
		{"dev", "https://127.0.0.1.example.com:6443", nil, false},
		{"dev", "", nil, false},
		{"prod", "https://10.0.0.1:6443", []string{"staging"}, false},

		{"prod", "https://10.0.0.1:6443", []string{"prod"}, true},
		{"gke_proj_zone_prod", "https://34.1.2.3", []string{"other", "gke_proj_zone_prod"}, true},
	} {
		err := CheckContext(tc.name, tc.server, tc.allowed)
		if (err == nil) != tc.ok {
			t.Errorf("CheckContext(%q, %q, %q) = %v, want ok=%v", tc.name, tc.server, tc.allowed, err, tc.ok)
			continue
		}
		if err == nil {
			continue
		}
		var ce *ContextError
		if !errors.As(err, &ce) || !errors.Is(err, ErrContextNotAllowed) {
			t.Errorf("CheckContext(%q): error %T %v is not a *ContextError / ErrContextNotAllowed", tc.name, err, err)
		}
		if ce.Context != tc.name || ce.Server != tc.server {
			t.Errorf("ContextError = %+v, want context %q server %q", ce, tc.name, tc.server)
		}
	}
}

func TestContextErrorMessage(t *testing.T) {
	err := CheckContext("prod", "https://10.0.0.1:6443", nil)
	want := `refusing Kubernetes context "prod" (server https://10.0.0.1:6443): it does not look like a local cluster` +
		` (its name is not minikube, docker-desktop, docker-for-desktop, rancher-desktop, orbstack, microk8s, colima, pets-test, kind-*, k3d-*, colima-*, and its server is not a loopback address)` +
		`, and the Petsfile does not allow it.` + "\n" +
		`If pets may really deploy and sync there, add this line to your Petsfile:` + "\n" +
		`    allow_k8s_contexts(["prod"])`
	if err.Error() != want {
		t.Errorf("message:\n%s\nwant:\n%s", err, want)
	}
	err = CheckContext("prod", "https://10.0.0.1:6443", []string{"staging"})
	for _, s := range []string{"the Petsfile allows only \"staging\".", `allow_k8s_contexts(["staging", "prod"])`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message %q lacks %q", err, s)
		}
	}
}

const kubeconfigA = `apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://127.0.0.1:6443"}
- name: remote
  cluster: {server: "https://10.9.8.7:443"}
users:
- name: u
  user: {token: "t"}
contexts:
- name: ctx-a
  context: {cluster: a, user: u, namespace: apps}
- name: ctx-remote
  context: {cluster: remote, user: u}
current-context: ctx-a
`

const kubeconfigB = `apiVersion: v1
kind: Config
clusters:
- name: b
  cluster: {server: "https://127.0.0.1:7443"}
users:
- name: u
  user: {token: "t"}
contexts:
- name: ctx-b
  context: {cluster: b, user: u}
current-context: ctx-b
`

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	b := filepath.Join(dir, "b.yaml")
	if err := os.WriteFile(a, []byte(kubeconfigA), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte(kubeconfigB), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", dir) // no ~/.kube/config of the machine's
	for _, tc := range []struct {
		desc            string
		kubeconfig      string // $KUBECONFIG
		opts            LoadOptions
		ctx, server, ns string
	}{
		{"explicit path", "", LoadOptions{Kubeconfig: a}, "ctx-a", "https://127.0.0.1:6443", "apps"},
		{"KUBECONFIG list: first file's current-context wins", b + string(os.PathListSeparator) + a, LoadOptions{}, "ctx-b", "https://127.0.0.1:7443", "default"},
		{"KUBECONFIG list: --context from the second file", b + string(os.PathListSeparator) + a, LoadOptions{Context: "ctx-remote"}, "ctx-remote", "https://10.9.8.7:443", "default"},
		{"explicit path beats KUBECONFIG", b, LoadOptions{Kubeconfig: a, Context: "ctx-remote"}, "ctx-remote", "https://10.9.8.7:443", "default"},
		{"namespace override", "", LoadOptions{Kubeconfig: a, Namespace: "x"}, "ctx-a", "https://127.0.0.1:6443", "x"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tc.kubeconfig)
			cfg, err := LoadConfig(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Context != tc.ctx || cfg.Server != tc.server || cfg.Namespace != tc.ns {
				t.Errorf("got context %q server %q namespace %q, want %q %q %q", cfg.Context, cfg.Server, cfg.Namespace, tc.ctx, tc.server, tc.ns)
			}
			if cfg.Rest.Host != tc.server {
				t.Errorf("rest host %q, want %q", cfg.Rest.Host, tc.server)
			}
		})
	}

	t.Run("unknown context", func(t *testing.T) {
		_, err := LoadConfig(LoadOptions{Kubeconfig: a, Context: "nope"})
		if err == nil || !strings.Contains(err.Error(), `context "nope" not found (contexts: ctx-a, ctx-remote)`) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("no kubeconfig", func(t *testing.T) {
		t.Setenv("KUBECONFIG", filepath.Join(dir, "missing"))
		_, err := LoadConfig(LoadOptions{})
		if !errors.Is(err, ErrNoConfig) {
			t.Errorf("err = %v, want ErrNoConfig", err)
		}
	})
	t.Run("remote context is refused by CheckContext", func(t *testing.T) {
		cfg, err := LoadConfig(LoadOptions{Kubeconfig: a, Context: "ctx-remote"})
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckContext(cfg.Context, cfg.Server, nil); !errors.Is(err, ErrContextNotAllowed) {
			t.Errorf("CheckContext = %v, want refusal", err)
		}
		if err := CheckContext(cfg.Context, cfg.Server, []string{"ctx-remote"}); err != nil {
			t.Errorf("CheckContext with allow = %v", err)
		}
	})
}
