// Package sync live-syncs changed files into the Kubernetes pods of a
// service, as the service's sync rules (petsfile.SyncRule) say: one tar of
// the changed files per rule path (relative names, modes kept) plus the
// deletions, streamed through exec into every matching pod's container; then
// the rule's commands whose triggers match. It implements rebuild.Syncer.
//
// Seed, called once a service is deployed, sends each rule's whole local
// tree into its pods, so they start from the developer's files rather than
// the image's (a rule's directory that .gitignore excludes, such as a
// build's bin/, is sent too: the rule names it). It waits for a ready pod
// for up to a minute, telling Syncer.Report every 5 s what it waits for. A pod that appeared since the last sync (a new pod, or a
// restarted container: either way its files are the image's) gets the same:
// the whole tree, plus the deletions since the service was deployed.
//
// Safety comes from package kube: the tar never holds a name or a symlink
// leading outside the rule's local directory, and the container side unpacks
// only under the rule's container path. A container without sh or tar gets
// a kube.AdviceError, and the caller falls back to a full restart.
//
// restart=True in a rule restarts the container's process after the files
// land, through the in-image wrapper cmd/pets-restart (the container's
// command runs as pets-restart -- CMD; pets execs pets-restart -restart). A
// container without it gets advice, and the caller falls back to a full
// restart of the service.
package sync

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	gosync "sync"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/windmilleng/pets/kube"
	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/rebuild"
	"github.com/windmilleng/pets/watcher"
)

// Client is what Syncer needs of a cluster (kube.Client implements it).
type Client interface {
	ReadyPods(ctx context.Context, sel kube.PodSelector) ([]kube.Pod, error)
	Exec(ctx context.Context, pod kube.Pod, cmd []string, s kube.Streams) error
}

var (
	_ Client         = (*kube.Client)(nil)
	_ rebuild.Syncer = (*Syncer)(nil)
)

// ErrNotFollowing is what Follow reports for a rule whose pods it cannot
// watch.
var ErrNotFollowing = errors.New("not following its pods")

// ErrNoPods is returned when a rule's selector matches no ready pod.
var ErrNoPods = errors.New("sync: no ready pod matches")

// Syncer syncs files into pods. Its history is guarded by mu; the syncs of
// one service are serialized (by its lock in locks). Its methods may be
// called from any goroutine.
type Syncer struct {
	Client Client
	// Report, if set, is told every kube.ReportEvery, while a seed waits for
	// a ready pod of a rule, what it waits for: a line such as "waiting for a
	// ready pod of app=backend to give it its files: pod backend-x: Pending
	// (container app: ContainerCreating) (5s of 1m0s)". It may be called from
	// any goroutine.
	Report func(k petsfile.Key, line string)

	// Tests only: how often a wait reports (0: kube.ReportEvery) and how long
	// a seed waits for a ready pod (0: SeedWait).
	every, seedWait time.Duration

	mu      gosync.Mutex
	locks   map[petsfile.Key]*gosync.Mutex   // one per service: its syncs run one at a time
	history map[petsfile.Key]map[string]bool // paths changed (synced or not) since pets started
	seen    map[petsfile.Key]map[string]bool // rule + pod UID + container ID: that pod has the rule's tree
	sent    map[string]map[string]fileStamp  // by podID: each path as it was when sent there
}

// fileStamp is what a sent file was (zero: it did not exist).
type fileStamp struct {
	size  int64
	mtime time.Time
	mode  os.FileMode
}

func stampOf(p string) fileStamp {
	fi, err := os.Lstat(p)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi.Size(), fi.ModTime(), fi.Mode()}
}

// unsent returns those of paths that pod has not had as they are now.
func (s *Syncer) unsent(id string, paths []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range paths {
		if st, ok := s.sent[id][p]; !ok || st != stampOf(p) {
			out = append(out, p)
		}
	}
	return out
}

// sentTo records that pod id has paths as they are now.
func (s *Syncer) sentTo(id string, paths []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent == nil {
		s.sent = map[string]map[string]fileStamp{}
	}
	if s.sent[id] == nil {
		s.sent[id] = map[string]fileStamp{}
	}
	for _, p := range paths {
		s.sent[id][p] = stampOf(p)
	}
}

// lock serializes the syncs of k and returns its unlock.
func (s *Syncer) lock(k petsfile.Key) func() {
	s.mu.Lock()
	if s.locks == nil {
		s.locks = map[petsfile.Key]*gosync.Mutex{}
	}
	l := s.locks[k]
	if l == nil {
		l = &gosync.Mutex{}
		s.locks[k] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Deployed forgets which pods of k have its files: its provider runs again,
// so they may hold the image's. (The history of changes stays: a deletion
// must reach a pod that survives the redeploy.)
func (s *Syncer) Deployed(k petsfile.Key) {
	defer s.lock(k)()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.seen, k)
}

// Changed implements rebuild.Syncer: paths join k's history, so that a pod
// that outlives k's restart gets their deletions with the seed after it.
func (s *Syncer) Changed(k petsfile.Key, paths []string) {
	defer s.lock(k)()
	s.state(k, paths)
}

// Sync implements rebuild.Syncer: each rule's files (as rebuild.Cover
// split them) go into its pods.
func (s *Syncer) Sync(ctx context.Context, k petsfile.Key, files []rebuild.RuleFiles) (rebuild.SyncReport, error) {
	return s.sync(ctx, k, files, false)
}

// SeedWait is how long Seed waits for a ready pod of a rule.
const SeedWait = time.Minute

// Seed sends every rule's whole local tree, and the Paths given with it (a
// build's outputs, which the ignore files may keep out of the tree), into
// the pods of k that have not had them since k was deployed (see
// Deployed): they hold the image's files.
// The rules' commands run (those whose triggers match a file sent) and
// restart=True restarts. It waits up to SeedWait for a ready pod, telling
// Report what it waits for meanwhile.
func (s *Syncer) Seed(ctx context.Context, k petsfile.Key, files []rebuild.RuleFiles) (rebuild.SyncReport, error) {
	return s.sync(ctx, k, files, true)
}

// state returns k's history (with paths added) and the set of pods that
// received it; both are only touched under k's lock.
func (s *Syncer) state(k petsfile.Key, paths []string) (history, seen map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.history == nil {
		s.history, s.seen = map[petsfile.Key]map[string]bool{}, map[petsfile.Key]map[string]bool{}
	}
	if s.history[k] == nil {
		s.history[k] = map[string]bool{}
	}
	if s.seen[k] == nil {
		s.seen[k] = map[string]bool{}
	}
	for _, p := range paths {
		s.history[k][p] = true
	}
	return s.history[k], s.seen[k]
}

// sync runs every rule (a rule that fails does not keep the others from
// their pods) and returns what they did and their errors, joined.
func (s *Syncer) sync(ctx context.Context, k petsfile.Key, files []rebuild.RuleFiles, seed bool) (rebuild.SyncReport, error) {
	defer s.lock(k)()
	t0 := time.Now()
	var rep rebuild.SyncReport
	var paths []string
	for _, rf := range files {
		paths = append(paths, rf.Paths...)
	}
	history, seen := s.state(k, paths)
	var errs []error
	for _, rf := range files {
		if err := s.syncRule(ctx, k, rf.Rule, rf.Paths, history, seen, seed, &rep); err != nil {
			errs = append(errs, err)
		}
	}
	rep.Took = time.Since(t0)
	return rep, errors.Join(errs...)
}

// syncRule sends one rule's share of the changed files, mine (with seed,
// its tree), into its pods; a pod new to the rule gets the tree and the
// deletions in history.
func (s *Syncer) syncRule(ctx context.Context, k petsfile.Key, r petsfile.SyncRule, mine []string, history, seen map[string]bool, seed bool, rep *rebuild.SyncReport) error {
	if err := checkLinks(r); err != nil {
		return err
	}
	if len(mine) == 0 && !seed {
		return nil
	}
	sel := kube.PodSelector{Namespace: r.Namespace, Selector: r.Selector, Container: r.Container}
	pods, err := s.readyPods(ctx, k, sel, seed)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Pos, err)
	}
	if len(pods) == 0 {
		return fmt.Errorf("%s: %w %q (namespace %q); is the service deployed?", r.Pos, ErrNoPods, r.Selector, r.Namespace)
	}
	var tree []string // walked once, for the first fresh pod
	for _, pod := range pods {
		send := mine
		if fresh := !seen[podID(r, pod)]; fresh {
			// A new pod or container holds the image's files: it gets the
			// whole tree, and the deletions since pets started.
			if tree == nil {
				if tree, err = walk(r); err != nil {
					return err
				}
			}
			send = union(tree, coveredBy(r, keys(history)))
		} else if seed {
			// It has had the tree since the deploy; of the paths given with
			// the seed (a build's outputs), those it has not had as they are.
			if send = s.unsent(podID(r, pod), mine); len(send) == 0 {
				continue
			}
		}
		if err := s.toPod(ctx, pod, r, send, seen, rep); err != nil {
			return err
		}
	}
	return nil
}

// podID names a pod's container as one rule's target: a pod with two
// rules gets each rule's tree. It is also what a stamp records (Holding).
func podID(r petsfile.SyncRule, p kube.Pod) string {
	return holdingOf(r, p.UID+"/"+p.ContainerID, p.Namespace+"/"+p.Name)
}

// held is one entry of Holding: a rule, and a pod's container holding its
// tree (UID empty: the rule itself, so that a rule no pod holds yet is
// known).
type held struct {
	Namespace string   `json:"ns"`
	Selector  string   `json:"selector"`
	Container string   `json:"container,omitempty"`
	Paths     []string `json:"paths"`
	UID       string   `json:"uid,omitempty"` // pod UID / container ID
	Pod       string   `json:"pod,omitempty"` // namespace/name
}

func holdingOf(r petsfile.SyncRule, uid, pod string) string {
	h := held{Namespace: r.Namespace, Selector: r.Selector, Container: r.Container, UID: uid, Pod: pod}
	for _, sp := range r.Paths {
		h.Paths = append(h.Paths, sp.Local+"="+sp.Remote)
	}
	b, _ := json.Marshal(h)
	return string(b)
}

// rule is the rule part of an entry (its identity without the pod).
func (h held) rule() held { h.UID, h.Pod = "", ""; return h }

// Holding says which pods hold the trees of k's rules since k was
// deployed, as a stamp records it (state.Stamp.Pods): each rule, then each
// pod of it that got its tree. Unseeded reads it back.
func (s *Syncer) Holding(k petsfile.Key, rules []petsfile.SyncRule) []string {
	defer s.lock(k)()
	_, seen := s.state(k, nil)
	return holding(rules, seen)
}

func holding(rules []petsfile.SyncRule, seen map[string]bool) []string {
	var out []string
	for _, r := range rules {
		out = append(out, holdingOf(r, "", ""))
	}
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Unseeded implements rebuild.Syncer: the ready pods of k's rules that do
// not hold their trees (namespace/name). A sync of k in progress counts as
// a pod without its files.
func (s *Syncer) Unseeded(ctx context.Context, k petsfile.Key, rules []petsfile.SyncRule) ([]string, error) {
	s.mu.Lock()
	l := s.locks[k]
	s.mu.Unlock()
	if l != nil {
		if !l.TryLock() {
			return []string{"(a sync is in progress)"}, nil
		}
		l.Unlock()
	}
	return Unseeded(ctx, s.Client, s.Holding(k, rules))
}

// Unseeded lists the ready pods of the rules recorded in holding (see
// Holding) that are not recorded as holding their trees: pods that replaced
// the ones that had them, or restarted containers, which hold the image's
// files. A rule with no ready pod at all (its pod being replaced) counts
// too: whatever will serve has not had the files.
func Unseeded(ctx context.Context, c Client, holding []string) ([]string, error) {
	have := map[string]bool{}
	rules := map[string]held{}
	for _, e := range holding {
		var h held
		if err := json.Unmarshal([]byte(e), &h); err != nil {
			return nil, fmt.Errorf("sync: a recorded pod: %w", err)
		}
		r := h.rule()
		key := holdingKey(r)
		rules[key] = r
		if h.UID != "" {
			have[key+" "+h.UID] = true
		}
	}
	keys := make([]string, 0, len(rules))
	for k := range rules {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, key := range keys {
		r := rules[key]
		pods, err := c.ReadyPods(ctx, kube.PodSelector{Namespace: r.Namespace, Selector: r.Selector, Container: r.Container})
		if err != nil {
			return nil, err
		}
		if len(pods) == 0 {
			// Being replaced: what will serve has not had the files yet.
			out = append(out, fmt.Sprintf("(none ready yet for %s in namespace %q)", r.Selector, r.Namespace))
		}
		for _, p := range pods {
			if !have[key+" "+p.UID+"/"+p.ContainerID] {
				out = append(out, p.Namespace+"/"+p.Name)
			}
		}
	}
	return out, nil
}

func holdingKey(h held) string {
	b, _ := json.Marshal(h)
	return string(b)
}

// toPod sends paths into pod, runs the rule's commands that they trigger and
// restarts the process if the rule asks, adding to rep. It takes one exec
// (kube.SyncScript) when the changes fall under one of the rule's paths, the
// usual case: files, commands and restart, each only if the step before
// succeeded. Changes under several paths take one exec per path, the last
// one carrying the commands and the restart. Called under the service's lock.
func (s *Syncer) toPod(ctx context.Context, pod kube.Pod, r petsfile.SyncRule, paths []string, seen map[string]bool, rep *rebuild.SyncReport) error {
	parts, err := split(r, paths)
	if err != nil {
		return fmt.Errorf("sync into %s: %w", pod, err)
	}
	var runs []string
	for _, run := range r.Run {
		if run.Triggered(paths) {
			runs = append(runs, run.Cmd)
		}
	}
	var then []string
	if r.Restart {
		then = RestartCommand
	}
	if len(parts) == 0 {
		parts = []part{{}} // no files: the commands and the restart alone
	}
	files, gone := 0, 0
	for i, p := range parts {
		sc := kube.SyncScript{Dir: p.remote, Deletes: p.deleted}
		if i == len(parts)-1 {
			sc.Run, sc.Then = runs, then
		}
		if sc.Dir == "" && len(sc.Run) == 0 && sc.Then == nil {
			continue
		}
		out, stderr, err := s.exec(ctx, pod, sc, p.root, p.present)
		if !out.Files {
			return fmt.Errorf("sync into %s: %w", pod, kube.Advise(filesFailed(pod, sc, out, stderr, err)))
		}
		files += len(p.present)
		gone += len(p.deleted)
		if i < len(parts)-1 {
			if err != nil {
				return fmt.Errorf("sync into %s: %w", pod, kube.Advise(err))
			}
			continue
		}
		seen[podID(r, pod)] = true
		s.sentTo(podID(r, pod), paths)
		rep.Files += files
		rep.Gone += gone
		rep.Pods = append(rep.Pods, pod.String())
		return s.ran(pod, r, runs, then, out, stderr, err, rep)
	}
	return nil
}

// filesFailed is the error of a sync script whose files step failed, as if
// it had been an exec of kube.SyncCommand alone, with its output.
func filesFailed(pod kube.Pod, sc kube.SyncScript, out kube.SyncOutput, stderr []byte, err error) error {
	var exit *kube.ExitError
	if errors.As(err, &exit) {
		argv, _ := kube.SyncCommand(sc.Dir, sc.Deletes)
		err = &kube.ExitError{Pod: pod, Command: argv, Code: exit.Code, Stderr: exit.Stderr, Err: exit.Err}
	}
	if err == nil {
		err = errors.New("the sync script ended before the files were in")
	}
	if o := bytes.TrimSpace(append(out.Rest, stderr...)); len(o) > 0 {
		err = fmt.Errorf("%w: %s", err, o)
	}
	return err
}

// ran reports the commands and the restart of one pod's sync script, as
// if each had been an exec of its own: the first that failed is an error
// naming the rule, with its output.
func (s *Syncer) ran(pod kube.Pod, r petsfile.SyncRule, runs, then []string, out kube.SyncOutput, stderr []byte, err error, rep *rebuild.SyncReport) error {
	var exit *kube.ExitError
	errors.As(err, &exit)
	for i, cmd := range runs {
		var res kube.RunOutput
		switch {
		case i < len(out.Runs):
			res = out.Runs[i]
		case err != nil: // the exec broke while cmd ran
			return fmt.Errorf("%s: after syncing into %s, %q failed: %w\n%s", r.Pos, pod, cmd, kube.Advise(err), bytes.TrimSpace(out.Rest))
		default:
			return fmt.Errorf("%s: after syncing into %s, %q did not run: the sync script ended before it", r.Pos, pod, cmd)
		}
		if res.Code != 0 {
			ee := &kube.ExitError{Pod: pod, Command: []string{"sh", "-c", cmd}, Code: res.Code, Stderr: string(res.Output)}
			if exit != nil {
				ee.Err = exit.Err
			}
			return fmt.Errorf("%s: after syncing into %s, %q failed: %w\n%s", r.Pos, pod, cmd, kube.Advise(ee), bytes.TrimSpace(res.Output))
		}
		rep.Ran = append(rep.Ran, cmd)
	}
	if then == nil {
		if err != nil {
			return fmt.Errorf("sync into %s: %w", pod, kube.Advise(err))
		}
		return nil
	}
	if err != nil {
		if exit != nil {
			// As an exec of the restart command alone would have failed.
			err = &kube.ExitError{Pod: pod, Command: then, Code: exit.Code, Stderr: exit.Stderr, Err: exit.Err}
		}
		return fmt.Errorf("%s: restart=True: restarting the process in %s failed: %w\n%s", r.Pos, pod, restartAdvice(err), bytes.TrimSpace(append(out.Rest, stderr...)))
	}
	rep.Ran = append(rep.Ran, "restart")
	return nil
}

// Follow keeps the pods of k's rules in step as they come and go until ctx
// ends: a pod that becomes ready and has not had k's files since its deploy
// (a replacement of a deleted pod, a restarted container, a scale-up) gets
// them at once, as Seed gives them; report is told of each (rep or err).
// Pods already ready when Follow starts are left to Seed and Sync. A rule
// whose pods cannot be watched is reported and skipped. It needs a Client
// that can watch pods (kube.Client).
func (s *Syncer) Follow(ctx context.Context, k petsfile.Key, rules []petsfile.SyncRule, report func(rebuild.SyncReport, error)) error {
	w, ok := s.Client.(interface {
		WatchPods(context.Context, kube.PodSelector) (*kube.PodWatch, error)
	})
	if !ok {
		return errors.New("sync: this client cannot watch pods")
	}
	var wg gosync.WaitGroup
	defer wg.Wait()
	for _, r := range rules {
		sel := kube.PodSelector{Namespace: r.Namespace, Selector: r.Selector, Container: r.Container}
		before, err := s.Client.ReadyPods(ctx, sel)
		if err != nil {
			report(rebuild.SyncReport{}, fmt.Errorf("%s: %w: %w", r.Pos, ErrNotFollowing, err))
			continue
		}
		old := map[string]bool{}
		for _, p := range before {
			old[podID(r, p)] = true
		}
		pw, err := w.WatchPods(ctx, sel)
		if err != nil {
			report(rebuild.SyncReport{}, fmt.Errorf("%s: %w: %w", r.Pos, ErrNotFollowing, err))
			continue
		}
		wg.Add(1)
		go func() { // owned by Follow: ends with ctx
			defer wg.Done()
			defer pw.Close()
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-pw.Events():
					if !ok {
						return
					}
					if ev.Type != kube.PodReady || old[podID(r, ev.Pod)] {
						continue
					}
					if rep, did, err := s.fresh(ctx, k, r, ev.Pod); did || err != nil {
						if ctx.Err() == nil {
							report(rep, err)
						}
					}
				}
			}
		}()
	}
	<-ctx.Done()
	return nil
}

// fresh gives one pod the rule's tree and the deletions since deploy,
// unless it has had them.
func (s *Syncer) fresh(ctx context.Context, k petsfile.Key, r petsfile.SyncRule, pod kube.Pod) (rep rebuild.SyncReport, did bool, err error) {
	defer s.lock(k)()
	t0 := time.Now()
	history, seen := s.state(k, nil)
	if seen[podID(r, pod)] {
		return rep, false, nil
	}
	if err := checkLinks(r); err != nil {
		return rep, true, err
	}
	tree, err := walk(r)
	if err != nil {
		return rep, true, err
	}
	err = s.toPod(ctx, pod, r, union(tree, coveredBy(r, keys(history))), seen, &rep)
	rep.Took = time.Since(t0)
	return rep, true, err
}

// RestartCommand restarts, through exec, the process that runs under
// cmd/pets-restart in a container.
var RestartCommand = []string{"pets-restart", "-restart"}

// restartAdvice explains a failed pets-restart -restart: the image lacks
// the wrapper, or the container's command does not run under it.
func restartAdvice(err error) error {
	var exit *kube.ExitError
	if errors.As(err, &exit) && exit.Code == 3 {
		return fmt.Errorf("%w; its command must run as pets-restart -- CMD (see cmd/pets-restart)", err)
	}
	if a := kube.Advise(err); a != err {
		return fmt.Errorf("%w; restart=True needs cmd/pets-restart in the image, running the container's command as pets-restart -- CMD", a)
	}
	return err
}

// readyPods lists the rule's ready pods; when seeding, it waits up to
// SeedWait for one (a rollout that was not waited for, a container that is
// not ready yet), telling Report what it waits for every kube.ReportEvery,
// and fails naming what the pods wait for.
func (s *Syncer) readyPods(ctx context.Context, k petsfile.Key, sel kube.PodSelector, wait bool) ([]kube.Pod, error) {
	limit, every := s.seedWait, s.every
	if limit == 0 {
		limit = SeedWait
	}
	if every == 0 {
		every = kube.ReportEvery
	}
	t0 := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var report <-chan time.Time
	if wait && s.Report != nil {
		r := time.NewTicker(every)
		defer r.Stop()
		report = r.C
	}
	what := "a ready pod of " + sel.Selector
	if sel.Namespace != "" {
		what += fmt.Sprintf(" (namespace %q)", sel.Namespace)
	}
	for {
		pods, err := s.Client.ReadyPods(ctx, sel)
		if err != nil || len(pods) > 0 || !wait {
			return pods, err
		}
		if time.Since(t0) > limit {
			return nil, fmt.Errorf("%w %q (namespace %q) within %v: %s; is the service deployed?", ErrNoPods, sel.Selector, sel.Namespace, limit, s.notReady(ctx, sel))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-report:
			s.Report(k, kube.Waiting{What: what + " to give it its files", Status: s.notReady(ctx, sel), Elapsed: time.Since(t0), Timeout: limit}.String())
		case <-tick.C:
		}
	}
}

// notReady says what the pods of sel wait for, as far as the Client can
// tell (kube.Client can).
func (s *Syncer) notReady(ctx context.Context, sel kube.PodSelector) string {
	c, ok := s.Client.(interface {
		NotReady(context.Context, kube.PodSelector) ([]kube.PodIssue, error)
	})
	if !ok {
		return "none ready yet"
	}
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	issues, err := c.NotReady(qctx, sel)
	switch {
	case err != nil:
		return "none ready yet"
	case len(issues) == 0:
		return "no pod matches yet"
	}
	return kube.Issues(issues)
}

// walk lists what the rule's local paths hold: files and symlinks (a
// symlink is sent as a symlink; kube.WriteTar refuses one that leads out),
// not directories themselves, nor what the watcher ignores (the service's
// ignore= globs, .gitignore and .petsignore files, version-control
// directories, editor swap files). A local path of the rule that the ignore
// files exclude (a build's output directory, bin/ say, which git ignores) is
// sent whole nevertheless, minus what the ignore= globs exclude and what is
// always ignored: the rule names it, and a pod seeded without it would lack
// the build's output (a binary the image does not have).
func walk(r petsfile.SyncRule) ([]string, error) {
	base := r.Base
	if base == "" && len(r.Paths) > 0 {
		base = filepath.Dir(r.Paths[0].Local)
	}
	ignored, err := watcher.NewMatcher([]string{base}, r.Ignore)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.Pos, err)
	}
	var out []string
	for _, sp := range r.Paths {
		skip := ignored.Ignored
		if fi, err := os.Lstat(sp.Local); err == nil && ignored.Ignored(sp.Local, fi.IsDir()) && !explicitlyIgnored(r, sp.Local) {
			// The ignore files exclude what the rule maps (bin/, where a build
			// writes): the rule names it, so it is sent, all of it but what is
			// always ignored and what the service's ignore= globs exclude.
			skip = func(p string, _ bool) bool { return p != sp.Local && explicitlyIgnored(r, p) }
		}
		err := filepath.WalkDir(sp.Local, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && p == sp.Local {
					return nil // not created yet
				}
				return err
			}
			if skip(p, d.IsDir()) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Pos, err)
		}
	}
	return out, nil
}

// explicitlyIgnored reports whether p is always ignored (a version-control
// directory, an editor's swap file) or matches one of the service's ignore=
// globs, whatever the ignore files say.
func explicitlyIgnored(r petsfile.SyncRule, p string) bool {
	if watcher.AlwaysIgnored(filepath.Base(p)) {
		return true
	}
	sp := filepath.ToSlash(p)
	for _, g := range r.Ignore {
		if ok, _ := doublestar.Match(filepath.ToSlash(g), sp); ok {
			return true
		}
	}
	return false
}

// checkLinks refuses a rule whose local path, or a directory on the way to
// it from the Petsfile's directory, is a symlink: sync would read from
// wherever it leads, outside the local tree.
func checkLinks(r petsfile.SyncRule) error {
	for _, sp := range r.Paths {
		link := ""
		if r.Base != "" {
			link = petsfile.SymlinkOnTheWay(r.Base, sp.Local)
		} else if fi, err := os.Lstat(sp.Local); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			link = sp.Local
		}
		switch {
		case link == sp.Local:
			return fmt.Errorf("%s: %s is a symlink; sync never follows a symlink out of the local tree: map the real directory", r.Pos, sp.Local)
		case link != "":
			return fmt.Errorf("%s: %s lies under %s, a symlink; sync never follows a symlink out of the local tree: map the real directory", r.Pos, sp.Local, link)
		}
	}
	return nil
}

// part is what one of a rule's paths gets: the files under root that exist
// (present) and those that do not (deleted), relative to root, for the
// container directory remote.
type part struct {
	root, remote     string
	present, deleted []string
}

// split divides the rule's share of paths among its paths, leaving out
// those with nothing to send.
func split(r petsfile.SyncRule, paths []string) ([]part, error) {
	var parts []part
	for _, sp := range r.Paths {
		root, remote := sp.Local, sp.Remote
		if fi, err := os.Stat(sp.Local); err == nil && !fi.IsDir() || err != nil && isFileMapping(sp) {
			// A single file: its directory is the root; the names must agree.
			if path.Base(sp.Remote) != filepath.Base(sp.Local) {
				return nil, fmt.Errorf("%s: %s -> %s renames a file, which sync cannot do; map its directory instead", r.Pos, sp.Local, sp.Remote)
			}
			root, remote = filepath.Dir(sp.Local), path.Dir(sp.Remote)
		}
		p := part{root: root, remote: remote}
		for _, f := range paths {
			if target, ok := rebuild.RuleTarget(r, f); !ok || target != sp {
				continue
			}
			rel, err := filepath.Rel(root, f)
			if err != nil {
				return nil, err
			}
			rel = filepath.ToSlash(rel)
			if fi, err := os.Lstat(f); err == nil {
				if fi.IsDir() {
					continue // a directory that got a child: the child is in paths
				}
				p.present = append(p.present, rel) // a file, or a symlink (sent as one)
			} else {
				p.deleted = append(p.deleted, rel)
			}
		}
		if len(p.present)+len(p.deleted) > 0 {
			parts = append(parts, p)
		}
	}
	return parts, nil
}

// exec runs sc in pod, with a tar of present (relative to root) on stdin
// when it has a directory, and returns its stdout split by step, its
// stderr and the exec's error. A tar that cannot be written (a path that
// leads out of root) is the error; one cut short by a failed exec is not.
func (s *Syncer) exec(ctx context.Context, pod kube.Pod, sc kube.SyncScript, root string, present []string) (kube.SyncOutput, []byte, error) {
	mark := rand.Text()
	argv, err := sc.Command(mark)
	if err != nil {
		return kube.SyncOutput{}, nil, err
	}
	var stdout, stderr bytes.Buffer
	streams := kube.Streams{Stdout: &stdout, Stderr: &stderr}
	if sc.Dir == "" {
		err = s.Client.Exec(ctx, pod, argv, streams)
		return kube.ParseSyncOutput(stdout.Bytes(), mark, false), stderr.Bytes(), err
	}
	pr, pw := io.Pipe()
	werr := make(chan error, 1)
	go func() { // owned by this call: it ends when the tar is written or the pipe closes
		err := kube.WriteTar(pw, root, present)
		pw.CloseWithError(err)
		werr <- err
	}()
	streams.Stdin = pr
	err = s.Client.Exec(ctx, pod, argv, streams)
	pr.CloseWithError(io.ErrClosedPipe)
	out := kube.ParseSyncOutput(stdout.Bytes(), mark, true)
	terr := <-werr
	cut := errors.Is(terr, io.ErrClosedPipe) // the exec ended before it read the whole tar
	switch {
	case cut && err == nil && !out.Files:
		// And client-go said nothing of why: it can lose an exec's status
		// when the connection closes while stdin is still being sent (an
		// image without sh or tar, an 8 MiB tar: 2 runs in 3 here). The
		// files step alone, on an empty tar, says why.
		if err = s.filesStep(ctx, pod, sc.Dir); err == nil {
			err = errors.New("the exec ended before it read the files, and its status was lost")
		}
		return kube.SyncOutput{Rest: out.Rest}, stderr.Bytes(), err
	case terr != nil && (err == nil || !cut):
		// The tar's error is the answer unless the exec failed first
		// and the write failed only because of that.
		return kube.SyncOutput{Rest: out.Rest}, stderr.Bytes(), terr
	}
	return out, stderr.Bytes(), err
}

// filesStep runs the files step of a sync into dir alone (kube.SyncCommand,
// no deletes) on an empty tar: what it fails of is what a sync would.
func (s *Syncer) filesStep(ctx context.Context, pod kube.Pod, dir string) error {
	argv, err := kube.SyncCommand(dir, nil)
	if err != nil {
		return err
	}
	var empty, stderr bytes.Buffer
	if err := tar.NewWriter(&empty).Close(); err != nil {
		return err
	}
	return s.Client.Exec(ctx, pod, argv, kube.Streams{Stdin: &empty, Stderr: &stderr})
}

// isFileMapping guesses, for a local path that no longer exists, whether the
// rule maps a single file (its container path has an extension-like base).
func isFileMapping(sp petsfile.SyncPath) bool {
	return path.Ext(sp.Remote) != "" && filepath.Ext(sp.Local) != ""
}

// coveredBy is the part of paths that rule r covers.
func coveredBy(r petsfile.SyncRule, paths []string) []string {
	split, _ := rebuild.Cover([]petsfile.SyncRule{r}, paths)
	return split[0].Paths
}

func union(a, b []string) []string {
	m := map[string]bool{}
	for _, p := range a {
		m[p] = true
	}
	for _, p := range b {
		m[p] = true
	}
	return keys(m)
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
