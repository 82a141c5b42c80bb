// Package sync live-syncs changed files into the Kubernetes pods of a
// service, as the service's sync rules (petsfile.SyncRule) say: one tar of
// the changed files per rule path (relative names, modes kept) plus the
// deletions, streamed through exec into every matching pod's container; then
// the rule's commands whose triggers match. It implements rebuild.Syncer.
//
// A pod that appeared since the last sync (a new pod, or a restarted
// container: either way its files are the image's) receives everything that
// changed since the service was deployed, not just the latest batch.
//
// Safety comes from package kube: the tar never holds a name or a symlink
// leading outside the rule's local directory, and the container side unpacks
// only under the rule's container path. A container without sh or tar gets
// a kube.AdviceError, and the caller falls back to a full restart.
//
// restart=True in a rule is not supported yet (restarting a container's
// process from outside makes the kubelet back off and loses files outside
// volumes): such a sync fails with a clear error and the service restarts.
package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	gosync "sync"
	"time"

	"github.com/windmilleng/pets/kube"
	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/rebuild"
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

// ErrNoPods is returned when a rule's selector matches no ready pod.
var ErrNoPods = errors.New("sync: no ready pod matches")

// Syncer syncs files into pods. Its history is guarded by mu; Sync may be
// called from any goroutine.
type Syncer struct {
	Client Client

	mu      gosync.Mutex
	history map[petsfile.Key]map[string]bool // paths changed since the service was deployed
	seen    map[petsfile.Key]map[string]bool // pod UID + container ID that received them
}

// Deployed forgets what was synced into k: its provider ran again, so its
// pods hold the image's files.
func (s *Syncer) Deployed(k petsfile.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.history, k)
	delete(s.seen, k)
}

// Sync implements rebuild.Syncer.
func (s *Syncer) Sync(ctx context.Context, k petsfile.Key, rules []petsfile.SyncRule, paths []string) (rebuild.SyncReport, error) {
	t0 := time.Now()
	var rep rebuild.SyncReport
	s.mu.Lock()
	if s.history == nil {
		s.history, s.seen = map[petsfile.Key]map[string]bool{}, map[petsfile.Key]map[string]bool{}
	}
	if s.history[k] == nil {
		s.history[k], s.seen[k] = map[string]bool{}, map[string]bool{}
	}
	for _, p := range paths {
		s.history[k][p] = true
	}
	history := keys(s.history[k])
	seen := s.seen[k]
	s.mu.Unlock()

	for _, r := range rules {
		mine := covered(r, paths)
		if len(mine) == 0 {
			continue
		}
		pods, err := s.Client.ReadyPods(ctx, kube.PodSelector{Namespace: r.Namespace, Selector: r.Selector, Container: r.Container})
		if err != nil {
			return rep, err
		}
		if len(pods) == 0 {
			return rep, fmt.Errorf("%w %q (namespace %q); is the service deployed?", ErrNoPods, r.Selector, r.Namespace)
		}
		for _, pod := range pods {
			id := pod.UID + "/" + pod.ContainerID
			send := mine
			s.mu.Lock()
			fresh := !seen[id]
			s.mu.Unlock()
			if fresh {
				send = covered(r, history) // a new pod or container gets everything since deploy
			}
			files, gone, err := s.syncPod(ctx, pod, r, send)
			if err != nil {
				return rep, fmt.Errorf("sync into %s: %w", pod, kube.Advise(err))
			}
			s.mu.Lock()
			seen[id] = true
			s.mu.Unlock()
			rep.Files += files
			rep.Gone += gone
			rep.Pods = append(rep.Pods, pod.String())
			for _, run := range r.Run {
				if !run.Triggered(mine) {
					continue
				}
				var out bytes.Buffer
				if err := s.Client.Exec(ctx, pod, []string{"sh", "-c", run.Cmd}, kube.Streams{Stdout: &out, Stderr: &out}); err != nil {
					return rep, fmt.Errorf("after syncing into %s, %q failed: %w\n%s", pod, run.Cmd, kube.Advise(err), bytes.TrimSpace(out.Bytes()))
				}
				rep.Ran = append(rep.Ran, run.Cmd)
			}
			if r.Restart {
				// Restarting a container's process from outside (SIGTERM to
				// PID 1) makes the kubelet back off longer at every restart and
				// loses files outside volumes: not supported yet.
				return rep, fmt.Errorf("%s: restart=True is not supported yet; pets restarts the service instead", r.Pos)
			}
		}
	}
	rep.Took = time.Since(t0)
	return rep, nil
}

// syncPod sends the rule's share of paths into one pod: per rule path, one
// tar of what exists plus the deletion of what does not.
func (s *Syncer) syncPod(ctx context.Context, pod kube.Pod, r petsfile.SyncRule, paths []string) (files, gone int, err error) {
	for _, sp := range r.Paths {
		if fi, err := os.Lstat(sp.Local); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			return files, gone, fmt.Errorf("%s: %s is a symlink; sync never follows a symlink out of the local tree: map the real directory", r.Pos, sp.Local)
		}
		root, remote := sp.Local, sp.Remote
		if fi, err := os.Stat(sp.Local); err == nil && !fi.IsDir() || err != nil && isFileMapping(sp) {
			// A single file: its directory is the root; the names must agree.
			if path.Base(sp.Remote) != filepath.Base(sp.Local) {
				return files, gone, fmt.Errorf("%s: %s -> %s renames a file, which sync cannot do; map its directory instead", r.Pos, sp.Local, sp.Remote)
			}
			root, remote = filepath.Dir(sp.Local), path.Dir(sp.Remote)
		}
		var present, deleted []string
		for _, p := range paths {
			if _, ok := (petsfile.SyncRule{Paths: []petsfile.SyncPath{sp}}).Covers(p); !ok {
				continue
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return files, gone, err
			}
			rel = filepath.ToSlash(rel)
			if _, err := os.Lstat(p); err == nil {
				if fi, _ := os.Stat(p); fi != nil && fi.IsDir() {
					continue // a directory that got a child: the child is in paths
				}
				present = append(present, rel)
			} else {
				deleted = append(deleted, rel)
			}
		}
		if len(present)+len(deleted) == 0 {
			continue
		}
		argv, err := kube.SyncCommand(remote, deleted)
		if err != nil {
			return files, gone, err
		}
		pr, pw := io.Pipe()
		werr := make(chan error, 1)
		go func() { // owned by this call: it ends when the tar is written or the pipe closes
			err := kube.WriteTar(pw, root, present)
			pw.CloseWithError(err)
			werr <- err
		}()
		var out bytes.Buffer
		err = s.Client.Exec(ctx, pod, argv, kube.Streams{Stdin: pr, Stdout: &out, Stderr: &out})
		pr.CloseWithError(io.ErrClosedPipe)
		if terr := <-werr; terr != nil {
			return files, gone, terr
		}
		if err != nil {
			if out.Len() > 0 {
				err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(out.Bytes()))
			}
			return files, gone, err
		}
		files += len(present)
		gone += len(deleted)
	}
	return files, gone, nil
}

// isFileMapping guesses, for a local path that no longer exists, whether the
// rule maps a single file (its container path has an extension-like base).
func isFileMapping(sp petsfile.SyncPath) bool {
	return path.Ext(sp.Remote) != "" && filepath.Ext(sp.Local) != ""
}

func covered(r petsfile.SyncRule, paths []string) []string {
	var out []string
	for _, p := range paths {
		if _, ok := r.Covers(p); ok {
			out = append(out, p)
		}
	}
	return out
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
