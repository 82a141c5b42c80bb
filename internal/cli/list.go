package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/windmilleng/pets/control"
	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/fresh"
	"github.com/windmilleng/pets/state"
	"github.com/windmilleng/pets/supervise"
)

// listItem is one row of `pets list -o json`.
type listItem struct {
	Name    string `json:"name"`
	Service string `json:"service"`
	Tier    string `json:"tier"`
	State   string `json:"state"`            // events.State: starting, ready, failed, crashed
	Reason  string `json:"reason,omitempty"` // why it is failed or crashed, or stale without a file to say
	// Freshness (events.Freshness: fresh, stale, unknown) says whether it
	// runs what is on disk; Files are what differs.
	Freshness string   `json:"freshness"`
	Files     []string `json:"files,omitempty"`
	// WatchedBy is the pid of the pets watching it (0: none); freshness
	// then comes from that pets' live view.
	WatchedBy int       `json:"watchedBy,omitempty"`
	Started   time.Time `json:"started"`
	AgeSecs   int64     `json:"ageSeconds"`
	Host      string    `json:"host,omitempty"`
	Hostname  string    `json:"hostname,omitempty"`
	Port      int       `json:"port,omitempty"`
	PID       int       `json:"pid,omitempty"`
	Petsfile  string    `json:"petsfile"`
	Log       string    `json:"log"`
	// Tracking says how pets finds every process of the service (to stop
	// them all): "cgroup", "environ" (by the PETS_INSTANCE variable in
	// their environment, their process groups and their descendants) or
	// "group" (by their process groups alone).
	Tracking string `json:"tracking"`
}

func newListCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the services pets is running, and whether they run what is on disk",
		Long: `List the recorded services: NAME, AGE, HOST, PORT, STATUS (starting,
ready, building, backoff, failed or crashed, with the reason) and FRESH: FRESH when what runs
was started or synced from the files of its watch set and the Petsfile now
on disk, STALE when something changed since (-o json says which files, or
which pod lacks them), unknown when pets cannot tell (a service that is not
running, or one started by an older pets). The table shortens a long reason
to keep a line per service; -o wide shows it whole, as -o json does.

With a pets watching a service, it is asked (it counts every edit made
before the question, and knows a restart under way or a backoff: STATUS
says so); otherwise pets list compares the files with what the service was
started from. The Petsfile is never evaluated.`,
		Example: `  pets list
  pets list -o wide
  pets list -o json | jq -r '.[].host'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch output {
			case "", "table", "wide", "json":
			default:
				return fmt.Errorf("unknown output format %q\nhint: use -o table, -o wide or -o json", output)
			}
			dir, err := g.openState()
			if err != nil {
				return err
			}
			f, err := dir.Read()
			if err != nil {
				return err
			}
			now := time.Now()
			items := []listItem{}
			for _, k := range supervise.Graph(f).Order {
				s := f.Services[k.Name]
				items = append(items, listItem{
					Name: s.Key(), Service: s.Name, Tier: s.Tier, State: string(stateOf(s)), Reason: reasonOf(s),
					Started: s.Started, AgeSecs: int64(now.Sub(s.Started).Seconds()),
					Host: s.Host(), Hostname: s.Hostname, Port: s.Port, PID: s.PID,
					Petsfile: s.Petsfile, Log: dir.LogPath(s.Name, s.Tier), Tracking: supervise.TrackingOf(s),
				})
			}
			g.freshness(cmd.Context(), dir, f, items)
			if output == "json" {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(items)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tAGE\tHOST\tPORT\tSTATUS\tFRESH")
			shortened := false
			for _, it := range items {
				port := ""
				if it.Port != 0 {
					port = fmt.Sprint(it.Port)
				}
				state := it.State
				if reason := it.Reason; reason != "" {
					if output != "wide" {
						reason = shorten(reason, 60)
						shortened = shortened || reason != it.Reason
					}
					state += " (" + reason + ")"
				}
				fresh := it.Freshness
				if fresh != string(events.Unknown) {
					fresh = strings.ToUpper(fresh)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", it.Name, age(now.Sub(it.Started)), it.Hostname, port, state, fresh)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if shortened {
				fmt.Fprintln(g.stderr, "pets: a reason is shortened; pets list -o wide shows it whole")
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, wide (the reasons whole) or json")
	return cmd
}

// live says whether a state is one whose freshness can be told.
func live(state string) bool {
	return state == string(events.Ready) || state == string(events.Starting)
}

// freshness fills in each item's freshness: from the pets that watches it
// (its live view, counting every change made before this question; its
// state too, which knows a restart under way or a backoff where the record
// only shows processes gone), else by comparing its watch set on disk with
// what it was started or synced from. No Petsfile is evaluated.
func (g *globals) freshness(ctx context.Context, dir *state.Dir, f *state.File, items []listItem) {
	bySocket := map[string][]int{}
	for i := range items {
		it := &items[i]
		it.Freshness = string(events.Unknown)
		if w, ok, err := dir.WatcherOf(it.Name); err == nil && ok {
			bySocket[w.Socket] = append(bySocket[w.Socket], i)
			it.WatchedBy = w.PID
			continue
		}
		if live(it.State) {
			g.walkFreshness(ctx, dir, f, it)
		}
	}
	for socket, idx := range bySocket {
		var names []string
		for _, i := range idx {
			names = append(names, items[i].Name)
		}
		got := map[string]control.ServiceStatus{}
		err := control.Do(ctx, socket, control.Request{Op: "status", Services: names}, func(r control.Reply) error {
			for _, s := range r.Status {
				got[s.Service] = s
			}
			return nil
		})
		for _, i := range idx {
			it := &items[i]
			s, ok := got[it.Name]
			if err != nil || !ok {
				it.WatchedBy = 0
				if live(it.State) {
					g.walkFreshness(ctx, dir, f, it)
				}
				continue
			}
			// Its state: the watcher's (a restart under way, a backoff),
			// but processes seen gone are not taken for ready on its word
			// (it may not have noticed yet).
			if w := s.State; w != "" && w != events.Stopped && string(w) != it.State && !(w == events.Ready && it.State == string(events.Crashed)) {
				it.State, it.Reason = string(w), s.Reason
			}
			if !live(it.State) {
				continue
			}
			it.Freshness, it.Files = string(s.Freshness), s.Files
			if s.Freshness != events.Fresh && s.Reason != "" && it.Reason == "" {
				it.Reason = s.Reason
			}
		}
	}
}

// walkFreshness compares its watch set and configuration on disk with its
// stamp.
func (g *globals) walkFreshness(ctx context.Context, dir *state.Dir, f *state.File, it *listItem) {
	rec, ok := recordOf(f, it.Name)
	if !ok {
		return
	}
	v, err := g.judge(ctx, dir, rec)
	it.Freshness, it.Files = string(v.Freshness), v.Files
	switch {
	case err != nil:
		it.Reason = "freshness: " + err.Error()
	case len(v.Pods) > 0:
		it.Reason = "pod " + strings.Join(v.Pods, ", ") + " has not had its files (no pets watches it to give them)"
	}
}

// stateOf is a recorded service's state: what its record says, unless its
// processes are gone (crashed).
func stateOf(s *state.Service) events.State {
	switch {
	case s.Status == state.Failed:
		return events.Failed
	case s.Status == state.Building:
		return events.Building
	case !supervise.Alive(s):
		return events.Crashed
	case s.Status == state.Ready:
		return events.Ready
	}
	return events.Starting
}

// reasonOf says why a failed or crashed service is down.
func reasonOf(s *state.Service) string {
	switch stateOf(s) {
	case events.Failed:
		return s.Reason
	case events.Crashed:
		if s.Reason != "" {
			return s.Reason
		}
		if exit := supervise.MainExit(s); exit != "" {
			return "it exited (" + exit + ")" // as its waiter recorded, whichever pets started it
		}
		return "its processes are gone"
	}
	return ""
}

// age formats a duration the way kubectl does: 12s, 5m, 3h, 2d.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// judge says whether rec runs what is on disk, from its stamp; its pods
// (if it syncs) are asked of the cluster.
func (g *globals) judge(ctx context.Context, dir *state.Dir, rec *state.Service) (fresh.Verdict, error) {
	return fresh.Judge(ctx, dir.Path, rec, func(ctx context.Context, holding []string) ([]string, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return g.kube.Unseeded(ctx, holding)
	})
}

// shorten cuts s to n characters at most, saying so with "...".
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-3]) + "..."
}
