package rebuild

import (
	"time"

	"github.com/windmilleng/pets/petsfile"
)

// Reload is a new configuration for a running Loop: the Petsfile changed
// and evaluated. Build it with NewReload.
type Reload struct {
	Config // Syncer nil: keep the loop's

	Added, Removed, Changed, Unchanged []petsfile.Key
	Files                              []string  // the Petsfiles whose change caused it
	Noticed                            time.Time // when the edit was seen
	// Err, if set, says the Petsfile changed but does not evaluate: the
	// previous configuration keeps running (Config is unset).
	Err error
	// Same says that the Petsfiles read, byte for byte, what the running
	// configuration came from, which they evaluated to: nothing to report
	// (a write that came as two batches, the second changing nothing).
	Same bool

	sums map[string]string // the Petsfiles' sha256, by path (petsfile.Project.Sums)
}

// NewReload compares the running graph with the new one. A service is
// changed when its fingerprint (petsfile.Project.Fingerprints: commands,
// address, deps, watch and ignore rules) differs; a tier change is a removal
// plus an addition.
func NewReload(old, new *petsfile.Graph, oldFP, newFP map[petsfile.Key]string) *Reload {
	r := &Reload{Config: Config{Graph: new}, Noticed: time.Now()}
	inNew := map[petsfile.Key]bool{}
	for _, k := range new.Order {
		inNew[k] = true
	}
	for _, k := range old.Order {
		if !inNew[k] {
			r.Removed = append(r.Removed, k)
		}
	}
	inOld := map[petsfile.Key]bool{}
	for _, k := range old.Order {
		inOld[k] = true
	}
	for _, k := range new.Order {
		switch {
		case !inOld[k]:
			r.Added = append(r.Added, k)
		case oldFP[k] != newFP[k]:
			r.Changed = append(r.Changed, k)
		default:
			r.Unchanged = append(r.Unchanged, k)
		}
	}
	return r
}
