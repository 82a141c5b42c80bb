package fresh

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/windmilleng/pets/state"
)

// ConfigDrift compares config (the Petsfile and the files it loads, absolute
// paths, each mapped to the hex sha256 of the content that was evaluated, as
// in state.Stamp.Config) with the files now, and returns, sorted, those whose
// content differs or that are gone.
func ConfigDrift(config map[string]string) ([]string, error) {
	var out []string
	for p, want := range config {
		b, err := os.ReadFile(p)
		if gone(err) {
			out = append(out, p)
			continue
		} else if err != nil {
			return nil, fmt.Errorf("fresh: %w", err)
		}
		sum := sha256.Sum256(b)
		if !strings.EqualFold(hex.EncodeToString(sum[:]), want) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

// ErrNoStamp is Check's answer for a record without a stamp (written by an
// older pets): its freshness is unknown.
var ErrNoStamp = errors.New("fresh: no stamp: the service was started by an older pets")

// Check tells whether what a stamp describes is what is on disk: it returns,
// sorted, the configuration files and watch-set files that differ (none: the
// service is fresh). An error means pets cannot tell (freshness unknown).
func Check(stateDir string, st *state.Stamp) ([]string, error) {
	if st == nil || st.Manifest == "" {
		return nil, ErrNoStamp
	}
	out, err := ConfigDrift(st.Config)
	if err != nil {
		return nil, err
	}
	m, err := Load(stateDir, st.Manifest)
	if err != nil {
		return nil, err
	}
	d, err := Diff(m)
	if err != nil {
		return nil, err
	}
	out = append(out, d.Files()...)
	slices.Sort(out)
	return slices.Compact(out), nil
}
