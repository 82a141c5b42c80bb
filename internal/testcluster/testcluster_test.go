package testcluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// recorder is a testing.TB whose Skip and Fatalf only record.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Skip(args ...any)                  { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestKubeconfigMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	t.Setenv("PETS_CLUSTER_KUBECONFIG", path)

	t.Setenv("CI", "")
	r := &recorder{TB: t}
	Kubeconfig(r)
	if r.failed != "" || !strings.Contains(r.skipped, "no kubeconfig at "+path) || !strings.Contains(r.skipped, "make cluster-up") {
		t.Errorf("skipped %q, failed %q", r.skipped, r.failed)
	}

	t.Setenv("CI", "true")
	r = &recorder{TB: t}
	Kubeconfig(r)
	if r.skipped != "" || !strings.Contains(r.failed, "no kubeconfig at "+path) || !strings.Contains(r.failed, "CI=true") {
		t.Errorf("under CI: skipped %q, failed %q", r.skipped, r.failed)
	}
}

func TestKubeconfigServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing answers there now
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://%s", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: pets-test, context: {cluster: c, user: u}}]
current-context: pets-test
`, addr)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PETS_CLUSTER_KUBECONFIG", path)
	t.Setenv("CI", "")
	r := &recorder{TB: t}
	Kubeconfig(r)
	if !strings.Contains(r.skipped, "API server at https://"+addr+" not answering") {
		t.Errorf("skipped %q", r.skipped)
	}
}

func TestNamespace(t *testing.T) {
	path := Kubeconfig(t)
	cs, _, err := clientset(path)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	t.Run("inner", func(t *testing.T) {
		name = Namespace(t)
		if !strings.HasPrefix(name, "t-testnamespace-inner-") {
			t.Errorf("namespace %q", name)
		}
		if _, err := cs.CoreV1().ServiceAccounts(name).Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
			t.Errorf("no default ServiceAccount yet: %v", err)
		}
	})
	// The inner test's cleanup has run: the namespace is going or gone, its pods gone.
	ns, err := cs.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
	if err == nil && ns.DeletionTimestamp == nil {
		t.Errorf("namespace %s not deleted", name)
	} else if err != nil && !apierrors.IsNotFound(err) {
		t.Error(err)
	}
}
