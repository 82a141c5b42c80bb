package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

// ErrNoContainer means the pods of a selector have no container of the requested name.
var ErrNoContainer = errors.New("kube: no such container")

// defaultContainerAnnotation names a pod's default container, as kubectl honours it.
const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// PodSelector chooses pods and one container in each.
type PodSelector struct {
	Namespace string // empty: the context's namespace
	Selector  string // label selector, e.g. "app=backend"; empty matches every pod
	Container string // empty: the pod's default container (kubectl's annotation, else the first)
}

func (s PodSelector) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pods %q", s.Selector)
	if s.Namespace != "" {
		fmt.Fprintf(&b, " in namespace %s", s.Namespace)
	}
	if s.Container != "" {
		fmt.Fprintf(&b, " container %s", s.Container)
	}
	return b.String()
}

// Pod is one pod and the container a [PodSelector] chose in it.
type Pod struct {
	Namespace string
	Name      string
	UID       string
	Container string
	// ContainerID is the runtime's ID of the current instance of Container ("containerd://...").
	// It changes when the container restarts, which loses whatever was synced into it.
	ContainerID string
	Running     bool // Container is running
	Ready       bool // the pod's Ready condition is true
	Terminating bool // deletion has started
}

func (p Pod) String() string { return p.Namespace + "/" + p.Name }

// usable reports whether exec and port-forward can reach the pod now.
func (p Pod) usable() bool { return p.Running && !p.Terminating }

// podFrom converts an API pod; ok is false when it has no container named container.
func podFrom(p *corev1.Pod, container string) (pod Pod, ok bool) {
	name := container
	if name == "" {
		name = p.Annotations[defaultContainerAnnotation]
	}
	if name == "" && len(p.Spec.Containers) > 0 {
		name = p.Spec.Containers[0].Name
	}
	if !slices.ContainsFunc(p.Spec.Containers, func(c corev1.Container) bool { return c.Name == name }) {
		return Pod{}, false
	}
	pod = Pod{
		Namespace:   p.Namespace,
		Name:        p.Name,
		UID:         string(p.UID),
		Container:   name,
		Terminating: p.DeletionTimestamp != nil,
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == name {
			pod.ContainerID = cs.ContainerID
			pod.Running = cs.State.Running != nil && p.Status.Phase == corev1.PodRunning
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			pod.Ready = c.Status == corev1.ConditionTrue
		}
	}
	return pod, true
}

// Pods lists the pods of sel that have its container, sorted by name, whatever their state
// (see Running, Ready, Terminating). If pods match but none has the container, the error
// wraps [ErrNoContainer] and names the containers they do have.
func (c *Client) Pods(ctx context.Context, sel PodSelector) ([]Pod, error) {
	ns := c.namespace(sel.Namespace)
	if _, err := labels.Parse(sel.Selector); err != nil {
		return nil, fmt.Errorf("list pods: bad label selector %q: %w", sel.Selector, err)
	}
	list, err := c.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.Selector})
	if err != nil {
		return nil, fmt.Errorf("list pods %q in namespace %s: %w", sel.Selector, ns, err)
	}
	var pods []Pod
	others := map[string]bool{}
	for i := range list.Items {
		p := &list.Items[i]
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		pod, ok := podFrom(p, sel.Container)
		if !ok {
			for _, ct := range p.Spec.Containers {
				others[ct.Name] = true
			}
			continue
		}
		pods = append(pods, pod)
	}
	if len(pods) == 0 && len(others) > 0 {
		return nil, fmt.Errorf("%w: pods %q in namespace %s have no container %q (they have: %s)",
			ErrNoContainer, sel.Selector, ns, sel.Container, contextNames(others))
	}
	slices.SortFunc(pods, func(a, b Pod) int { return strings.Compare(a.Name, b.Name) })
	return pods, nil
}

// ReadyPods lists the pods of sel whose container is running and that are Ready and not
// terminating, sorted by name.
func (c *Client) ReadyPods(ctx context.Context, sel PodSelector) ([]Pod, error) {
	pods, err := c.Pods(ctx, sel)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(pods, func(p Pod) bool { return !p.usable() || !p.Ready }), nil
}

// PodEventType says what happened to a pod in a [PodWatch].
type PodEventType int

const (
	// PodStarted: the pod's container is running and was not before: a new pod, or a new
	// instance of the container after a restart (a new ContainerID). Either way it holds only
	// what its image holds: a sync must send everything again.
	PodStarted PodEventType = iota + 1
	// PodReady: a started pod's Ready condition became true (it follows PodStarted, at once
	// for a pod without a readiness probe). A port-forward targets only ready pods.
	PodReady
	// PodGone: a pod reported started is being deleted, was deleted, or no longer matches.
	PodGone
)

func (t PodEventType) String() string {
	switch t {
	case PodStarted:
		return "started"
	case PodReady:
		return "ready"
	case PodGone:
		return "gone"
	}
	return fmt.Sprintf("PodEventType(%d)", int(t))
}

// PodEvent is one change seen by a [PodWatch].
type PodEvent struct {
	Type PodEventType
	Pod  Pod
}

// PodWatch follows the pods of a selector through an informer (it relists after a broken
// watch, so no change is lost).
type PodWatch struct {
	sel      PodSelector
	informer cache.SharedIndexInformer
	events   chan PodEvent

	stopOnce  sync.Once
	stop      chan struct{} // closed to stop the informer
	done      chan struct{} // closed once the informer and its handler have returned
	unhookCtx func() bool

	// reported holds what was last reported of each pod, by UID. Only the informer's handler
	// goroutine touches it (client-go calls one listener's handlers sequentially).
	reported map[string]podState
}

type podState struct {
	containerID string
	ready       bool
}

// WatchPods starts following the pods of sel. It returns once the initial list is in: the
// pods already running arrive first, as PodStarted (and PodReady) events. Read Events until
// it is closed (unread events queue up in memory), or call Close; cancelling ctx stops the
// watch too. A list error at the start (forbidden, say) is returned at once.
func (c *Client) WatchPods(ctx context.Context, sel PodSelector) (*PodWatch, error) {
	sel.Namespace = c.namespace(sel.Namespace)
	if _, err := labels.Parse(sel.Selector); err != nil {
		return nil, fmt.Errorf("watch pods: bad label selector %q: %w", sel.Selector, err)
	}
	lw := cache.NewFilteredListWatchFromClient(c.Clientset.CoreV1().RESTClient(), "pods", sel.Namespace,
		func(o *metav1.ListOptions) { o.LabelSelector = sel.Selector })
	w := &PodWatch{
		sel:      sel,
		informer: cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{}),
		events:   make(chan PodEvent, 16),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		reported: map[string]podState{},
	}
	listErr := make(chan error, 1)
	if err := w.informer.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		select {
		case listErr <- err:
		default:
		}
	}); err != nil {
		return nil, fmt.Errorf("watch %s: %w", sel, err)
	}
	if _, err := w.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.handle(obj, false) },
		UpdateFunc: func(_, obj any) { w.handle(obj, false) },
		DeleteFunc: func(obj any) { w.handle(obj, true) },
	}); err != nil {
		return nil, fmt.Errorf("watch %s: %w", sel, err)
	}
	w.unhookCtx = context.AfterFunc(ctx, w.closeStop)
	go func() {
		defer close(w.done)
		defer close(w.events)
		w.informer.Run(w.stop)
	}()

	// Wait for the initial list, failing fast on a list error (a wrong namespace, RBAC) that
	// the informer would otherwise retry forever.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !w.informer.HasSynced() {
		select {
		case err := <-listErr:
			w.Close()
			return nil, fmt.Errorf("watch pods %q in namespace %s: %w", sel.Selector, sel.Namespace, err)
		case <-ctx.Done():
			w.Close()
			return nil, fmt.Errorf("watch pods %q in namespace %s: %w", sel.Selector, sel.Namespace, ctx.Err())
		case <-tick.C:
		}
	}
	return w, nil
}

func (w *PodWatch) handle(obj any, deleted bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	pod, ok := podFrom(p, w.sel.Container)
	uid := string(p.UID)
	last, reported := w.reported[uid]
	if deleted || !ok || pod.Terminating {
		if reported {
			delete(w.reported, uid)
			pod.Namespace, pod.Name, pod.UID = p.Namespace, p.Name, uid
			w.send(PodEvent{Type: PodGone, Pod: pod})
		}
		return
	}
	if !pod.usable() {
		if reported {
			w.reported[uid] = podState{containerID: last.containerID}
		}
		return
	}
	if !reported || last.containerID != pod.ContainerID {
		last = podState{containerID: pod.ContainerID}
		w.send(PodEvent{Type: PodStarted, Pod: pod})
	}
	if pod.Ready && !last.ready {
		last.ready = true
		w.send(PodEvent{Type: PodReady, Pod: pod})
	}
	last.ready = pod.Ready
	w.reported[uid] = last
}

func (w *PodWatch) send(ev PodEvent) {
	select {
	case w.events <- ev:
	case <-w.stop:
	}
}

// Events delivers pod changes in order. It is closed after Close or when the context ends.
func (w *PodWatch) Events() <-chan PodEvent { return w.events }

// Running returns the pods of the selector whose container runs now and that are not
// terminating, Ready ones first, then by name. It reads the informer's cache: no request.
func (w *PodWatch) Running() []Pod {
	var pods []Pod
	for _, obj := range w.informer.GetStore().List() {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			continue
		}
		if pod, ok := podFrom(p, w.sel.Container); ok && pod.usable() {
			pods = append(pods, pod)
		}
	}
	slices.SortFunc(pods, func(a, b Pod) int {
		if a.Ready != b.Ready {
			if a.Ready {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return pods
}

func (w *PodWatch) closeStop() { w.stopOnce.Do(func() { close(w.stop) }) }

// Close stops the watch and waits for its goroutines. Events is closed by then.
func (w *PodWatch) Close() error {
	w.unhookCtx()
	w.closeStop()
	<-w.done
	return nil
}
