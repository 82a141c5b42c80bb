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
	// prepared are the services whose first step starts from the manifest
	// Prepare took (in base), or from the walk Defer put off: it reads no
	// more than that.
	prepared map[petsfile.Key]bool
	deferred *deferredWalk // Defer's walk, until it has ended
}

// deferredWalk is the walk the first steps start from, run after them
// (Defer). Its fields but once and done are guarded by Stamper.mu.
type deferredWalk struct {
	since time.Time
	once  sync.Once     // starts it
	done  chan struct{} // closed once it has ended and recorded what waited
	ended chan error    // then gets its error
	kept  map[petsfile.Key]*pending
}

// pending is a first step's stamp, to be recorded when the deferred walk
// ends.
type pending struct {
	config map[string]string
	pods   []string
	podsOK bool // Pods was called
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

// Defer is Prepare put off until after the first steps, for a pets whose
// watches are in place (since: when they began to be placed): a change
// made from then on is a batch of the watcher's, so the walk need not come
// first. The first steps start at once, without a walk; the walk runs once
// Started is called (or something must wait for it: a later step, Known),
// and records their stamps when it ends; then ended gets its error (nil,
// or why the stamps say unknown). A file whose status changed since may be
// newer than what a step read: its stat is recorded as unsure, so it reads
// as changed until a step reads it again.
func (s *Stamper) Defer(since time.Time) (ended <-chan error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := &deferredWalk{since: since, done: make(chan struct{}), ended: make(chan error, 1), kept: map[petsfile.Key]*pending{}}
	s.deferred = d
	for k := range s.specs {
		s.prepared[k] = true
	}
	return d.ended
}

// Started says the first steps are over (pets up has started what it
// starts): a manifest Prepare took and no step used is too old for a later
// step, which walks again; Defer's walk starts.
func (s *Stamper) Started() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.prepared)
	if d := s.deferred; d != nil {
		d.once.Do(func() { go s.walkDeferred(d) })
	}
}

// wait waits for Defer's walk, starting it if it has not started.
func (s *Stamper) wait() {
	s.mu.Lock()
	d := s.deferred
	s.mu.Unlock()
	if d == nil {
		return
	}
	d.once.Do(func() { go s.walkDeferred(d) })
	<-d.done
}

// walkDeferred is Defer's walk: the manifests each service's next step
// starts from, and the stamps of the first steps that succeeded.
func (s *Stamper) walkDeferred(d *deferredWalk) {
	ms, err := walkSince(s.allSpecs(), d.since.Add(-ctimeGrain))
	defer func() {
		d.ended <- err
		close(d.done)
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deferred = nil
	if err == nil {
		for k, m := range ms {
			s.base[k] = m
		}
	}
	for k, p := range d.kept {
		s.recordLocked(k, ms[k], err, d.since, p.config)
		if p.podsOK {
			s.recordPods(k, p.pods)
		}
	}
}

// ctimeGrain is how far a file's status change time may lag the moment of
// the change: file systems stamp it from a clock that ticks every jiffy
// (10 ms at most).
const ctimeGrain = 10 * time.Millisecond

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
	if d := s.deferred; d != nil {
		if s.prepared[k] {
			// A first step: its stamp is recorded when Defer's walk ends.
			delete(s.prepared, k)
			config := s.configOf(k)
			s.mu.Unlock()
			return func() { s.keepDeferred(d, k, config) }
		}
		s.mu.Unlock()
		s.wait()
		s.mu.Lock()
	}
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
		// Recorded outside s.mu: the records of steps side by side go
		// into state.json together (state.Dir.Update batches them).
		s.recordSaved(k, rel, err, taken, config)
	}
}

// keepDeferred is the keep of a first step that Defer's walk d serves: it
// is recorded when d ends, or now if d has ended.
func (s *Stamper) keepDeferred(d *deferredWalk, k petsfile.Key, config map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deferred == d {
		d.kept[k] = &pending{config: config}
		return
	}
	s.recordLocked(k, s.base[k], nil, d.since, config)
}

// recordLocked saves m (taken at taken; nil or err: unknown) and records it
// in k's record with config. s.mu is held.
func (s *Stamper) recordLocked(k petsfile.Key, m *Manifest, err error, taken time.Time, config map[string]string) {
	if m == nil || err != nil {
		s.record(k, nil)
		return
	}
	rel, err := m.Save(s.dir.Path)
	s.recordSaved(k, rel, err, taken, config)
}

// recordSaved records the manifest saved as rel (err: unknown) in k's
// record with config.
func (s *Stamper) recordSaved(k petsfile.Key, rel string, err error, taken time.Time, config map[string]string) {
	if err != nil {
		s.record(k, nil)
		return
	}
	s.record(k, &state.Stamp{Taken: taken, Config: config, Manifest: rel})
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

// Pods records which pods hold k's sync rules' trees in its stamp (with
// it, if that waits for Defer's walk).
func (s *Stamper) Pods(k petsfile.Key, holding []string) {
	s.mu.Lock()
	if d := s.deferred; d != nil && d.kept[k] != nil {
		d.kept[k].pods, d.kept[k].podsOK = holding, true
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.recordPods(k, holding)
}

func (s *Stamper) recordPods(k petsfile.Key, holding []string) {
	_ = s.dir.Update(func(f *state.File) error {
		if rec, ok := f.Services[k.Name]; ok && rec.Tier == k.Tier && rec.Fresh != nil {
			rec.Fresh.Pods = holding
		}
		return nil
	})
}

// Known says whether k's record has a stamp, once Defer's walk (if any)
// has recorded it.
func (s *Stamper) Known(k petsfile.Key) bool {
	s.wait()
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
