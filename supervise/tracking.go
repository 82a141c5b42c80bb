package supervise

// Tracking: how pets finds every process of a service, so that stopping it
// leaves nothing behind, not even a daemon that left its process group.
//
// cgroup (Linux, where pets may create cgroups: as root, or in a subtree
// delegated to the user, such as a systemd unit or scope with Delegate=yes):
// each start of a service gets its own cgroup v2 directory,
// MOUNT/pets/HASH/NAME-TIER-INSTANCE (HASH names the state directory;
// under pets' own cgroup, MOUNT/OWN/pets/HASH/..., when only that is
// delegated), made at its first fork (a restart whose waiter runs the next
// command, Supervisor.reusable, keeps the waiter's, named after the
// instance it was made for); each process pets forks for it is
// put there before it is released (a held process has run nothing yet),
// and everything it forks stays there. Stopping sends SIGTERM to each
// process of the cgroup, then, after the grace period, cgroup.kill (Linux
// 5.14; SIGKILL to each process before), waits until the cgroup is empty
// and removes it.
//
// environ (Linux without a cgroup, or PETS_TRACKING=environ): the
// processes that carry the start's PETS_INSTANCE in their environment
// (/proc/PID/environ), those of the process groups pets started, and the
// descendants of all these (the waiter is a child subreaper, so orphans
// are its descendants too). A process found that way is signalled only
// while it has the start time it had when found (proc.StopTracked).
//
// group (macOS, Windows): the process groups pets started; a process that
// leaves its group is not seen.
//
// PETS_TRACKING=environ (or Supervisor.Tracking) forces the fallback;
// PETS_TRACKING=cgroup makes a start fail where no cgroup can be made.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/state"
)

// Tracking modes, as recorded (state.Service.Tracking).
const (
	TrackCgroup  = "cgroup"
	TrackEnviron = "environ"
	TrackGroup   = "group"
)

const trackingVar = "PETS_TRACKING"

// trackingWanted is the tracking asked for: "" (the best there is),
// TrackCgroup (that or fail) or TrackEnviron.
func (s *Supervisor) trackingWanted() (string, error) {
	v, from := s.Tracking, "tracking"
	if v == "" {
		v, from = os.Getenv(trackingVar), trackingVar
	}
	switch v {
	case "", "auto":
		return "", nil
	case TrackCgroup, TrackEnviron:
		return v, nil
	}
	return "", fmt.Errorf("%s=%q: want auto, cgroup or environ", from, v)
}

// TrackingOf says how rec's processes are found: its Tracking, or "group"
// for a record of an older pets.
func TrackingOf(rec *state.Service) string {
	if rec.Tracking == "" {
		return TrackGroup
	}
	return rec.Tracking
}

// tracked returns what proc.StopTracked needs to find rec's processes.
func tracked(rec *state.Service) proc.Tracked {
	t := proc.Tracked{Cgroup: rec.Cgroup}
	if rec.Instance != "" && rec.Tracking != TrackGroup {
		t.Marker = instanceVar + "=" + rec.Instance
	}
	for _, p := range rec.Procs {
		t.Groups = append(t.Groups, p.Identity)
		if p.Waiter {
			t.Waiters = append(t.Waiters, p.Identity)
		}
		if p.Child.PID != 0 {
			t.Groups = append(t.Groups, p.Child) // its command leads a group of its own
		}
	}
	return t
}

// newCgroup makes the cgroup for one start of a service: under
// MOUNT/pets/HASH, else under this process's own cgroup. It says why
// neither could be made.
func newCgroup(stateDir, name string) (string, error) {
	parents, err := cgroupParents(stateDir)
	if err != nil {
		return "", err
	}
	var errs []error
	for _, parent := range parents {
		dir := filepath.Join(parent, name)
		var err error
		for try := 0; try < 3; try++ { // a pets removing an empty parent meanwhile
			if err = os.MkdirAll(parent, 0o755); err != nil {
				break
			}
			if err = os.Mkdir(dir, 0o755); !errors.Is(err, fs.ErrNotExist) {
				break
			}
		}
		if err == nil {
			return dir, nil
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

// cgroupParents returns where the cgroups of the services of stateDir may
// be: MOUNT/pets/HASH, and, under this process's own cgroup (delegated to
// the user, perhaps), MOUNT/OWN/pets/HASH.
func cgroupParents(stateDir string) ([]string, error) {
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("cgroups are a Linux feature: %w", errors.ErrUnsupported)
	}
	mount, root, err := proc.CgroupMount()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(stateDir))
	hash := hex.EncodeToString(sum[:6])
	parents := []string{filepath.Join(mount, "pets", hash)}
	if own, err := proc.OwnCgroup(); err == nil && own != "/" && root == "/" {
		parents = append(parents, filepath.Join(mount, filepath.FromSlash(own), "pets", hash))
	}
	return parents, nil
}

// pruneCgroups removes the cgroups of dir's services that no record names
// and no process uses: left by a pets killed between making one and
// recording it.
func pruneCgroups(dir *state.Dir) {
	parents, err := cgroupParents(dir.Path)
	if err != nil {
		return
	}
	f, err := dir.Read()
	if err != nil {
		return
	}
	named := map[string]bool{}
	for _, s := range f.Services {
		named[s.Cgroup] = true
	}
	for _, parent := range parents {
		ents, err := os.ReadDir(parent)
		if err != nil {
			continue
		}
		for _, e := range ents {
			p := filepath.Join(parent, e.Name())
			if !e.IsDir() || named[p] {
				continue
			}
			if populated, err := proc.CgroupPopulated(p); err == nil && !populated {
				_ = proc.RemoveCgroup(p)
			}
		}
		removeCgroupParents(filepath.Join(parent, "none"))
	}
}

// cgroupName is the directory name of one start's cgroup.
func cgroupName(name, tier, instance string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
				return r
			}
			return '_'
		}, s)
	}
	return clean(name) + "-" + clean(tier) + "-" + instance
}

// removeCgroupParents removes the directories newCgroup made above dir
// once they are empty (pets/HASH, then pets).
func removeCgroupParents(dir string) {
	if dir == "" {
		return
	}
	hashDir := filepath.Dir(dir)
	if err := syscall.Rmdir(hashDir); err == nil {
		_ = syscall.Rmdir(filepath.Dir(hashDir))
	}
}

// track decides, at the first fork of this start, how its processes are
// tracked, and makes its cgroup if there is to be one.
func (h *host) track() error {
	if h.tracking != "" {
		return nil
	}
	want, err := h.s.trackingWanted()
	if err != nil {
		return err
	}
	switch {
	case runtime.GOOS != "linux":
		h.tracking = TrackGroup
	case want == TrackEnviron:
		h.tracking = TrackEnviron
	default:
		dir, err := newCgroup(h.s.State.Path, cgroupName(h.key.Name, h.key.Tier, h.instance))
		if err != nil {
			if want == TrackCgroup {
				return fmt.Errorf("%s=cgroup, but no cgroup can be made for %s: %w", trackingVar, h.key, err)
			}
			slog.Debug("supervise: no cgroup; tracking by environment", "service", h.key, "err", err)
			h.tracking = TrackEnviron
			return nil
		}
		h.tracking, h.cgroup = TrackCgroup, dir
	}
	return nil
}

// dropUnusedCgroup removes the cgroup track made if no process was put in
// it (the start failed before).
func (h *host) dropUnusedCgroup() {
	if h.cgroup == "" || h.entered {
		return
	}
	_ = proc.RemoveCgroup(h.cgroup)
	removeCgroupParents(h.cgroup)
	dir := h.cgroup
	h.tracking, h.cgroup = "", ""
	_ = h.s.State.Update(func(f *state.File) error {
		if rec, ok := f.Services[h.key.Name]; ok && rec.Cgroup == dir {
			rec.Cgroup = ""
		}
		return nil
	})
}

// enter puts a process pets forked for this start (still held) in its
// cgroup. The first time a process cannot be moved there, the start falls
// back to environ tracking (unless a cgroup is required).
func (h *host) enter(pid int) error {
	if h.tracking != TrackCgroup {
		return nil
	}
	err := proc.CgroupAdd(h.cgroup, pid)
	if err == nil {
		h.entered = true
		return nil
	}
	if want, _ := h.s.trackingWanted(); want == TrackCgroup || h.entered {
		return err
	}
	slog.Debug("supervise: cannot use the cgroup; tracking by environment", "service", h.key, "err", err)
	dir := h.cgroup
	h.tracking, h.cgroup = TrackEnviron, ""
	_ = proc.RemoveCgroup(dir)
	removeCgroupParents(dir)
	return h.s.State.Update(func(f *state.File) error {
		if rec, ok := f.Services[h.key.Name]; ok && rec.Instance == h.instance {
			rec.Tracking, rec.Cgroup = h.tracking, ""
		}
		return nil
	})
}
