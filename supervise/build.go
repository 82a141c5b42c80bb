package supervise

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/windmilleng/pets/logfile"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/state"
)

// Build runs k's build step (register(build=...)), if it has one: in its
// Petsfile's directory, with its env files, its output appended to the
// service's log. What runs under k's name keeps running. While it runs,
// the build is recorded like a run() (under k's record; a service not yet
// running gets a record saying it is building), so that a pets killed
// meanwhile leaves nothing pets down cannot find.
func (s *Supervisor) Build(ctx context.Context, k petsfile.Key) error {
	svc, ok := s.Project.Service(k)
	if !ok || svc.Build == "" {
		return nil
	}
	if s.DryRun {
		s.printf("Pets would build %s: %s", k, svc.Build)
		return nil
	}
	env, err := svc.ReadEnvFiles()
	if err != nil {
		return fmt.Errorf("build %s: %w", k, err)
	}
	maxLog, err := logfile.Max(s.LogMax)
	if err != nil {
		return err
	}
	logf, err := logfile.Open(s.State.LogPath(k.Name, k.Tier), maxLog)
	if err != nil {
		return err
	}
	defer logf.Close()
	from := logf.Pos()
	fmt.Fprintf(logf, "--- pets: building %s at %s: %s ---\n", k, time.Now().Format(time.RFC3339), svc.Build)

	created := false // a record made for the build alone
	var id proc.Identity
	spec := proc.Spec{Line: svc.Build, Dir: svc.Dir, Env: append([]string{"PETS_SERVICE=" + k.Name, "PETS_TIER=" + k.Tier}, env...), Out: logf}
	err = proc.Run(ctx, spec, func(i proc.Identity) {
		id = i
		_ = s.State.Update(func(f *state.File) error {
			rec, ok := f.Services[k.Name]
			if !ok {
				rec = &state.Service{Name: k.Name, Tier: k.Tier, Petsfile: svc.File, Root: s.Project.Path, Deps: svc.Deps,
					Status: state.Building, Started: time.Now(), Fingerprint: s.Fingerprints[k]}
				f.Services[k.Name] = rec
				created = true
			}
			rec.Procs = append(rec.Procs, state.Proc{Identity: i, Cmd: svc.Build, Dir: svc.Dir, Run: true})
			return nil
		})
	})
	_ = s.State.Update(func(f *state.File) error {
		rec, ok := f.Services[k.Name]
		if !ok {
			return nil
		}
		rec.Procs = removeProc(rec.Procs, id)
		if created && rec.Status == state.Building && len(rec.Procs) == 0 {
			delete(f.Services, k.Name) // the start that follows records it
		}
		return nil
	})
	if err != nil {
		msg := fmt.Sprintf("build %q failed (%v)", svc.Build, err)
		if tail := logfile.TailSince(from, tailLines); len(tail) > 0 {
			msg += "; its output ended with:\n  " + strings.Join(tail, "\n  ")
		}
		return fmt.Errorf("%s", msg)
	}
	s.printf("Pets built %s (%s)", k, svc.Build)
	return nil
}
