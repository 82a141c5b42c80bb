package fresh

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/windmilleng/pets/internal/dirent"
	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/rebuild"
	"github.com/windmilleng/pets/state"
)

// Stamper keeps the stamps of one configuration's services (rebuild.Stamps):
// each one's manifest in memory (the live index that a watching pets updates
// with the paths its rounds know changed), on disk, and in the service's
// record with the sums of the Petsfile that was evaluated.
type Stamper struct {
	dir      *state.Dir
	config   map[string]string // the evaluated Petsfile and its loads -> sha256
	envFiles map[petsfile.Key][]string
	specs    map[petsfile.Key]Spec

	mu   sync.Mutex
	base map[petsfile.Key]*Manifest // what each service's last step read, updated in place
	// prepared are the services whose manifest in base Prepare (or a
	// shared walk) took for their first step: it reads no more than that.
	prepared map[petsfile.Key]bool
}

var _ rebuild.Stamps = (*Stamper)(nil)

// NewStamper makes the Stamper of project's graph g; ignore are the
// watcher's extra ignore globs (the state directory).
func NewStamper(dir *state.Dir, project *petsfile.Project, g *petsfile.Graph, ignore []string) *Stamper {
	owners := rebuild.OwnersOf(project, g)
	s := &Stamper{dir: dir, config: project.Sums, envFiles: map[petsfile.Key][]string{}, specs: map[petsfile.Key]Spec{}, base: map[petsfile.Key]*Manifest{}, prepared: map[petsfile.Key]bool{}}
	for _, k := range g.Order {
		s.specs[k] = Spec{Key: k, Owners: owners, Ignore: ignore, Skip: project.Files}
		if svc, ok := project.Service(k); ok {
			s.envFiles[k] = svc.EnvFiles
		}
	}
	return s
}

// Prepare walks every service's watch set, once for all of them: pets up
// calls it before it starts anything, so that each start's stamp is no
// newer than what the start reads. A service's first step starts from it
// without a walk of its own.
func (s *Stamper) Prepare() error {
	ms, err := Walk(s.allSpecs())
	if err != nil {
		return err
	}
	s.install(ms)
	return nil
}

// Share is Prepare done by the watcher's first walk: visit goes in
// watcher.Options.Visit, and done is called once the watcher is in place
// (or failed to be). A change after the walk read a file is then a batch
// of the watcher's, so nothing that happens while the services start is
// lost.
func (s *Stamper) Share() (visit func(dir string, d *dirent.Dir, files []string), done func() error) {
	sh, err := Share(s.allSpecs())
	if err != nil {
		return nil, func() error { return err }
	}
	return sh.Visit, func() error {
		ms, err := sh.Finish()
		if err != nil {
			return err
		}
		s.install(ms)
		return nil
	}
}

// Started says the first steps are over (pets up has started what it
// starts): a manifest Prepare took and no step used is too old for a later
// step, which walks again.
func (s *Stamper) Started() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.prepared)
}

func (s *Stamper) allSpecs() []Spec {
	specs := make([]Spec, 0, len(s.specs))
	for _, sp := range s.specs {
		specs = append(specs, sp)
	}
	return specs
}

// install makes ms the manifests each service's first step starts from.
func (s *Stamper) install(ms map[petsfile.Key]*Manifest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, m := range ms {
		s.base[k], s.prepared[k] = m, true
	}
}

// Take notes k's watch set before a step reads it: its last manifest with
// paths read again (all, or no manifest to start from: walked whole). keep
// records it, and the configuration's sums, as what k runs.
func (s *Stamper) Take(k petsfile.Key, paths []string, all bool) (keep func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	spec, ok := s.specs[k]
	if !ok {
		return func() {}
	}
	taken := time.Now()
	m := s.base[k]
	if s.prepared[k] && m != nil {
		// Prepare has just read the whole watch set, before anything
		// started: this step reads no less than that.
		all, taken = false, m.Taken
	}
	delete(s.prepared, k)
	if m == nil && !all {
		m = s.saved(k, spec)
	}
	var err error
	if m == nil || all {
		// The old manifest goes before the new one is walked: the two
		// whole-tree indexes are not held at once.
		delete(s.base, k)
		m = nil
		var ms map[petsfile.Key]*Manifest
		if ms, err = Walk([]Spec{spec}); err == nil {
			m = ms[k]
		}
	} else if len(paths) > 0 {
		err = m.Update(paths)
	}
	if err != nil || m == nil {
		// Without a manifest pets cannot tell: the record says unknown.
		delete(s.base, k)
		return func() { s.record(k, nil) }
	}
	s.base[k] = m
	config := s.configOf(k) // the env files as the step will read them
	return func() {
		s.mu.Lock()
		rel, err := m.Save(s.dir.Path)
		s.mu.Unlock()
		if err != nil {
			s.record(k, nil)
			return
		}
		s.record(k, &state.Stamp{Taken: taken, Config: config, Manifest: rel})
	}
}

// configOf is what k's configuration is now: the sums of the evaluated
// Petsfile and its loads, and of k's env files' content.
func (s *Stamper) configOf(k petsfile.Key) map[string]string {
	out := make(map[string]string, len(s.config)+len(s.envFiles[k]))
	for f, sum := range s.config {
		out[f] = sum
	}
	for _, f := range s.envFiles[k] {
		if b, err := os.ReadFile(f); err == nil {
			sum := sha256.Sum256(b)
			out[f] = hex.EncodeToString(sum[:])
		} else {
			out[f] = "missing"
		}
	}
	return out
}

// saved loads k's manifest as a pets before this one kept it, if it was
// taken of the same watch set.
func (s *Stamper) saved(k petsfile.Key, spec Spec) *Manifest {
	f, err := s.dir.Read()
	if err != nil {
		return nil
	}
	rec, ok := f.Services[k.Name]
	if !ok || rec.Tier != k.Tier || rec.Fresh == nil || rec.Fresh.Manifest == "" {
		return nil
	}
	m, err := Load(s.dir.Path, rec.Fresh.Manifest)
	if err != nil || m.Spec.Key != k || m.Spec.viewID() != spec.viewID() {
		return nil
	}
	return m
}

// record sets k's stamp in its record (nil: unknown).
func (s *Stamper) record(k petsfile.Key, st *state.Stamp) {
	_ = s.dir.Update(func(f *state.File) error {
		if rec, ok := f.Services[k.Name]; ok && rec.Tier == k.Tier {
			rec.Fresh = st
		}
		return nil
	})
}

// Pods records which pods hold k's sync rules' trees in its stamp.
func (s *Stamper) Pods(k petsfile.Key, holding []string) {
	_ = s.dir.Update(func(f *state.File) error {
		if rec, ok := f.Services[k.Name]; ok && rec.Tier == k.Tier && rec.Fresh != nil {
			rec.Fresh.Pods = holding
		}
		return nil
	})
}

// Known says whether k's record has a stamp.
func (s *Stamper) Known(k petsfile.Key) bool {
	f, err := s.dir.Read()
	if err != nil {
		return false
	}
	rec, ok := f.Services[k.Name]
	return ok && rec.Tier == k.Tier && rec.Fresh != nil && rec.Fresh.Manifest != ""
}

// Drift says which files of k's watch set differ on disk from its stamp
// (the configuration is not compared: whether a changed Petsfile changed
// k is for its definition's fingerprint to say); known is false when k has
// no stamp.
func (s *Stamper) Drift(_ context.Context, k petsfile.Key) ([]string, bool, error) {
	f, err := s.dir.Read()
	if err != nil {
		return nil, false, err
	}
	rec, ok := f.Services[k.Name]
	if !ok || rec.Tier != k.Tier || rec.Fresh == nil || rec.Fresh.Manifest == "" {
		return nil, false, nil
	}
	m, err := Load(s.dir.Path, rec.Fresh.Manifest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	d, err := Diff(m)
	if err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	if spec, ok := s.specs[k]; ok && m.Spec.viewID() == spec.viewID() && s.base[k] == nil {
		s.base[k] = m // the next step starts from it
	}
	s.mu.Unlock()
	return d.Files(), true, nil
}
