package supervise

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/proc"
)

// dryUp prints what starting k would do by calling its provider with a host
// that runs nothing.
func (s *Supervisor) dryUp(ctx context.Context, k petsfile.Key, deps []petsfile.Value) (petsfile.Value, error) {
	if f, err := s.State.Read(); err == nil {
		if rec, ok := f.Services[k.Name]; ok {
			s.printf("Pets would stop %s first", rec.Key())
		}
	}
	s.printf("Pets would start %s:", k)
	v, err := s.Project.Provide(ctx, k, deps, dryHost{w: s.Stderr})
	if err != nil {
		return petsfile.Value{}, err
	}
	return v, nil
}

// dryHost prints commands instead of running them.
type dryHost struct{ w io.Writer }

func (d dryHost) say(format string, args ...any) {
	if d.w != nil {
		fmt.Fprintf(d.w, "  "+format+"\n", args...)
	}
}

func (d dryHost) Start(_ context.Context, c petsfile.Command) (petsfile.Process, error) {
	d.say("start %q in %s", c.Line, c.Dir)
	return petsfile.Process{}, nil
}

func (d dryHost) Run(_ context.Context, c petsfile.Command) error {
	d.say("run %q in %s", c.Line, c.Dir)
	return nil
}

func (d dryHost) Ready(_ context.Context, _ petsfile.Key, _ petsfile.Process, r petsfile.Readiness) error {
	hp := net.JoinHostPort(r.Hostname, strconv.Itoa(r.Port))
	switch {
	case r.HTTP != "":
		d.say("wait until GET http://%s%s answers 2xx or 3xx", hp, r.HTTP)
	case r.Port != 0:
		d.say("wait until %s accepts TCP", hp)
	}
	if r.Command != nil {
		d.say("wait until %q exits 0 (in %s)", r.Command.Line, r.Command.Dir)
	}
	if r.Log != "" {
		d.say("wait until a line of its output matches /%s/", r.Log)
	}
	return nil
}

// DryHost returns a host that prints what top-level run() calls would do.
func DryHost(w io.Writer) petsfile.Host { return dryHost{w: w} }

// topHost runs top-level run() calls of a Petsfile (outside any provider),
// with their output on w.
type topHost struct{ w io.Writer }

// TopLevelHost returns the host for run() calls at the top level of a
// Petsfile: they run while the file is evaluated, output to w.
func TopLevelHost(w io.Writer) petsfile.Host { return topHost{w: w} }

func (t topHost) Start(context.Context, petsfile.Command) (petsfile.Process, error) {
	return petsfile.Process{}, fmt.Errorf("start: only a provider may start a server")
}

func (t topHost) Run(ctx context.Context, c petsfile.Command) error {
	out := t.w
	if out == nil {
		out = io.Discard
	}
	if err := proc.Run(ctx, proc.Spec{Line: c.Line, Dir: c.Dir, Env: c.Env, Out: out}, nil); err != nil {
		return fmt.Errorf("run %q: %w", c.Line, err)
	}
	return nil
}

func (t topHost) Ready(context.Context, petsfile.Key, petsfile.Process, petsfile.Readiness) error {
	return fmt.Errorf("service: only a provider may declare a service")
}
