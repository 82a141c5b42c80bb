// Package testcluster gives tests the project's local Kubernetes cluster (scripts/cluster,
// `make cluster-up`), or skips them naming exactly what is missing. Under CI=true a missing
// cluster fails the test instead: CI must run the Kubernetes tests.
//
// The kubeconfig is $PETS_CLUSTER_KUBECONFIG, else $PETS_CLUSTER_STATE/kubeconfig, else
// /var/tmp/pets-cluster/kubeconfig, as scripts/cluster writes it.
package testcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Context is the kubeconfig context scripts/cluster writes.
const Context = "pets-test"

const fix = "run `make cluster-up` (Linux, root, Debian; see scripts/cluster/README.md)"

var (
	mu      sync.Mutex
	checked = map[string]error{} // kubeconfig path -> result of the first check in this process
)

// KubeconfigPath is where the project's cluster kubeconfig is expected.
func KubeconfigPath() string {
	if p := os.Getenv("PETS_CLUSTER_KUBECONFIG"); p != "" {
		return p
	}
	state := os.Getenv("PETS_CLUSTER_STATE")
	if state == "" {
		state = "/var/tmp/pets-cluster"
	}
	return filepath.Join(state, "kubeconfig")
}

// Kubeconfig returns the kubeconfig path of the project's cluster if its API server answers
// /readyz. Otherwise it skips the test (fails it under CI=true), saying what is missing and
// how to fix it. The check runs once per process and kubeconfig.
func Kubeconfig(t testing.TB) string {
	t.Helper()
	path := KubeconfigPath()
	mu.Lock()
	err, ok := checked[path]
	if !ok {
		err = check(path)
		checked[path] = err
	}
	mu.Unlock()
	if err != nil {
		msg := fmt.Sprintf("Kubernetes test cluster unavailable: %v; %s", err, fix)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: the Kubernetes tests must run)", msg)
		} else {
			t.Skip(msg)
		}
	}
	return path
}

func check(path string) error {
	var why []string
	if _, err := os.Stat(path); err != nil {
		if runtime.GOOS != "linux" {
			why = append(why, "not Linux ("+runtime.GOOS+")")
		} else if os.Geteuid() != 0 {
			why = append(why, "not root")
		}
		why = append(why, fmt.Sprintf("no kubeconfig at %s", path))
		return fmt.Errorf("%s", strings.Join(why, "; "))
	}
	cs, host, err := clientset(path)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %v", path, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("API server at %s not answering: %v", host, err)
	}
	if s := strings.TrimSpace(string(body)); s != "ok" {
		return fmt.Errorf("API server at %s not ready: %s", host, s)
	}
	return nil
}

func clientset(path string) (*kubernetes.Clientset, string, error) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: path},
		&clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, "", err
	}
	cfg.QPS, cfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(cfg)
	return cs, cfg.Host, err
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// Namespace creates a namespace for this test (named after it, plus a random suffix) in the
// project's cluster and returns its name. Cleanup deletes it and waits until its pods are
// gone, so no container outlives the test.
func Namespace(t testing.TB) string {
	t.Helper()
	path := Kubeconfig(t)
	cs, _, err := clientset(path)
	if err != nil {
		t.Fatalf("testcluster: %v", err)
	}
	var suffix [3]byte
	rand.Read(suffix[:])
	base := strings.Trim(nonName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 40 {
		base = strings.Trim(base[:40], "-")
	}
	name := "t-" + base + "-" + hex.EncodeToString(suffix[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"pets.dev/test": "true"}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("testcluster: create namespace %s: %v", name, err)
	}
	// Pods need the namespace's default ServiceAccount, which a controller creates.
	if err := waitFor(ctx, func() (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}, func(rv string) (watch.Interface, error) {
		return cs.CoreV1().ServiceAccounts(name).Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
	}); err != nil {
		t.Fatalf("testcluster: namespace %s: default ServiceAccount: %v", name, err)
	}
	t.Cleanup(func() { deleteNamespace(t, cs, name) })
	return name
}

func deleteNamespace(t testing.TB, cs *kubernetes.Clientset, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Terminating first, so that no controller creates pods anymore; then the pods with a
	// short grace period. Not 0: that removes them from the API before the kubelet has
	// stopped their containers; with 1 the API object lasts until they are stopped.
	err := cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("testcluster: delete namespace %s: %v", name, err)
		return
	}
	one := int64(1)
	pods := cs.CoreV1().Pods(name)
	if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &one}, metav1.ListOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("testcluster: delete pods of %s: %v", name, err)
	}
	if err := waitFor(ctx, func() (bool, error) {
		l, err := pods.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		return len(l.Items) == 0, nil
	}, func(rv string) (watch.Interface, error) {
		return pods.Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
	}); err != nil {
		t.Errorf("testcluster: namespace %s: pods still there: %v", name, err)
	}
}

// waitFor returns when done() is true, re-checking on each event of a watch (re-opened if
// it ends), or with ctx's error.
func waitFor(ctx context.Context, done func() (bool, error), watchFn func(rv string) (watch.Interface, error)) error {
	for {
		w, err := watchFn("")
		if err != nil {
			return err
		}
		ok, err := done()
		if err != nil || ok {
			w.Stop()
			return err
		}
	events:
		for {
			select {
			case <-ctx.Done():
				w.Stop()
				return ctx.Err()
			case _, open := <-w.ResultChan():
				if !open {
					break events
				}
				if ok, err := done(); err != nil || ok {
					w.Stop()
					return err
				}
			}
		}
	}
}
