package supervise

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/state"
)

// PortHeldError: a service's processes were all stopped, but its address
// still accepts connections; who holds it, as far as pets can tell.
type PortHeldError struct {
	Service string // "name-tier"
	Addr    string // "host:port"
	Port    int
	PID     int    // 0: unknown
	Cmd     string // its command line, if known
}

func (e *PortHeldError) Error() string {
	who := fmt.Sprintf("another program holds it (`sudo ss -ltnp 'sport = :%d'` names it)", e.Port)
	if e.PID != 0 {
		x := holder{pid: e.PID, cmd: e.Cmd}
		who = fmt.Sprintf("%s holds it; stop it (`kill %d`)", x, e.PID)
	}
	return fmt.Sprintf("%s still accepts connections after %s was stopped: %s before %s can start again",
		e.Addr, e.Service, who, e.Service)
}

// portFreed waits (at most grace) until rec's address, if it is one of
// this machine's, accepts no connection: what a stop of rec must achieve,
// since the next instance will want the port. If something still listens,
// it says who.
func portFreed(ctx context.Context, rec *state.Service, grace time.Duration) error {
	if rec.Port == 0 || rec.Hostname == "" {
		return nil
	}
	a := resolve(ctx, rec.Hostname, rec.Port)
	if len(a.local) == 0 {
		return nil // another machine's address: not this stop's to free
	}
	wctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	if proc.WaitClosed(wctx, rec.Host()) == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	e := &PortHeldError{Service: rec.Key(), Addr: rec.Host(), Port: rec.Port}
	if socks, ok := a.listeners(); ok && len(socks) > 0 {
		if held, err := proc.Holders(socks, nil); err == nil {
			var pids []int
			for _, ps := range held {
				pids = append(pids, ps...)
			}
			if len(pids) > 0 {
				e.PID = slices.Min(pids) // forked workers share their parent's socket
				e.Cmd = proc.CmdLine(e.PID)
			}
		}
	}
	return e
}
