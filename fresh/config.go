package fresh

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/windmilleng/pets/events"
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

// Verdict is whether a recorded service runs what is on disk, as far as
// pets can tell without a watching pets: from its stamp.
type Verdict struct {
	Freshness events.Freshness
	Files     []string // what differs: files of its watch set and configuration, sorted
	Pods      []string // pods that do not hold its sync rules' trees (namespace/name)
}

// PodCheck lists the pods, of those recorded in a stamp (state.Stamp.Pods),
// that do not hold their trees (package sync's Unseeded, with a cluster
// client).
type PodCheck func(ctx context.Context, holding []string) ([]string, error)

// Judge compares what rec was started or synced from with what is on disk
// now: its files, its configuration, and (if it syncs, with pods) its pods.
// A record without a stamp is unknown; so is a service that is not ready.
func Judge(ctx context.Context, stateDir string, rec *state.Service, pods PodCheck) (Verdict, error) {
	files, err := Check(stateDir, rec.Fresh)
	switch {
	case errors.Is(err, ErrNoStamp):
		return Verdict{Freshness: events.Unknown}, nil
	case err != nil:
		return Verdict{Freshness: events.Unknown}, err
	case len(files) > 0:
		return Verdict{Freshness: events.Stale, Files: files}, nil
	}
	if len(rec.Fresh.Pods) > 0 && pods != nil {
		p, err := pods(ctx, rec.Fresh.Pods)
		if err != nil {
			return Verdict{Freshness: events.Unknown}, fmt.Errorf("check its pods: %w", err)
		}
		if len(p) > 0 {
			return Verdict{Freshness: events.Stale, Pods: p}, nil
		}
	}
	return Verdict{Freshness: events.Fresh}, nil
}
