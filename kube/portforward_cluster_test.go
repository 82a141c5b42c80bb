package kube

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/windmilleng/pets/internal/testcluster"
	"github.com/windmilleng/pets/supervise"
)

// hammer opens connections to addr from 4 goroutines until stop is closed, each sending an
// HTTP/1.0 GET and reading to the end, and returns how long the slowest took.
func hammer(addr string, stop <-chan struct{}) time.Duration {
	var mu sync.Mutex
	var slowest time.Duration
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				if c, err := net.Dial("tcp", addr); err == nil {
					_ = c.SetDeadline(time.Now().Add(40 * time.Second))
					_, _ = io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
					_, _ = io.Copy(io.Discard, c)
					c.Close()
				}
				mu.Lock()
				slowest = max(slowest, time.Since(t0))
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	return slowest
}

// While nothing listens on the pod's port (an image whose server a sync brings), every
// forward fails; and a pod being deleted never answers a new stream. Neither may hold a
// local connection for client-go's 30 s stream timeout: each ends well before, however
// many connections race on the shared connection to the pod. (Alone, the slowest takes
// 0.1-0.2 s where nothing listens, and about 1 s while the pod is deleted, since the pod
// side's end of a forward ends its wait for the data stream at once; under a whole make
// test on two cores the cluster itself answers slowly, and one took 10.0 s in two runs of
// three.)
func TestPortForwardRefusedPortAndDeletedPodNeverHang(t *testing.T) {
	t.Parallel()
	c := clusterClient(t)
	ns := testcluster.Namespace(t)
	deploy(t, c, ns, `apiVersion: apps/v1
kind: Deployment
metadata: {name: empty}
spec:
  replicas: 1
  selector: {matchLabels: {app: empty}}
  template:
    metadata: {labels: {app: empty}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: `+appImage+`
        imagePullPolicy: Never
        command: ["sleep", "3600"]
`)
	sel := PodSelector{Namespace: ns, Selector: "app=empty"}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var log syncBuffer
	fwd, err := c.PortForward(ctx, ForwardOptions{Pods: sel, RemotePort: 8080, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		// pets stops a pets port-forward with SIGTERM and kills it after its grace
		// period (5 s): Close must not wait for the stream creations it gave up on
		// while the pod was deleted (client-go lets each wait 30 s).
		closing := time.Now()
		if err := fwd.Close(); err != nil {
			t.Error(err)
		}
		if took := time.Since(closing); took > supervise.DefaultGrace {
			t.Errorf("Close took %v, more than pets' stop grace period (%v)", took, supervise.DefaultGrace)
		}
		t.Logf("port-forward log:\n%s", log.String())
	}()
	const bound = 15 * time.Second // half of client-go's 30 s
	run := func(what string, d time.Duration, during func()) {
		t.Helper()
		stop := make(chan struct{})
		done := make(chan time.Duration)
		go func() { done <- hammer(fwd.Addr(), stop) }()
		if during != nil {
			during()
		}
		time.Sleep(d) // the period being hammered
		close(stop)
		slowest := <-done
		if slowest > bound {
			t.Errorf("%s: a connection took %v (want under %v)", what, slowest, bound)
		}
		t.Logf("%s: the slowest connection took %v", what, slowest)
	}
	run("nothing listens in the pod", 3*time.Second, nil)

	// A server answers now.
	pod := onePod(t, c, sel)
	execOut(t, c, pod, "httpd", "-p", "8080", "-h", "/www")
	waitServed := time.Now().Add(30 * time.Second)
	for {
		got, err := httpGet(ctx, "http://"+fwd.Addr()+"/index.html")
		if err == nil && got == "hello from "+appImage+"\n" {
			break
		}
		if time.Now().After(waitServed) {
			t.Fatalf("the pod's server does not answer through the forward: %q, %v", got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Its pod is deleted while connections come in; the replacement has no server.
	run("the pod is deleted", 6*time.Second, func() {
		if err := c.Clientset.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	if target, _ := fwd.Target(); target.UID == pod.UID {
		t.Errorf("the forward still targets the deleted pod %s", pod)
	}
}
