package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/state"
	"github.com/windmilleng/pets/supervise"
)

// listItem is one row of `pets list -o json`.
type listItem struct {
	Name     string    `json:"name"`
	Service  string    `json:"service"`
	Tier     string    `json:"tier"`
	State    string    `json:"state"`            // events.State: starting, ready, failed, crashed
	Reason   string    `json:"reason,omitempty"` // why it is failed or crashed
	Started  time.Time `json:"started"`
	AgeSecs  int64     `json:"ageSeconds"`
	Host     string    `json:"host,omitempty"`
	Hostname string    `json:"hostname,omitempty"`
	Port     int       `json:"port,omitempty"`
	PID      int       `json:"pid,omitempty"`
	Petsfile string    `json:"petsfile"`
	Log      string    `json:"log"`
}

func newListCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the services pets is running",
		Example: `  pets list
  pets list -o json | jq -r '.[].host'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && output != "json" && output != "table" {
				return fmt.Errorf("unknown output format %q\nhint: use -o json or -o table", output)
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
					Petsfile: s.Petsfile, Log: dir.LogPath(s.Name, s.Tier),
				})
			}
			if output == "json" {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(items)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tAGE\tHOST\tPORT\tSTATUS")
			for _, it := range items {
				port := ""
				if it.Port != 0 {
					port = fmt.Sprint(it.Port)
				}
				state := it.State
				if it.Reason != "" {
					state += " (" + it.Reason + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.Name, age(now.Sub(it.Started)), it.Hostname, port, state)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// stateOf is a recorded service's state: what its record says, unless its
// processes are gone (crashed).
func stateOf(s *state.Service) events.State {
	switch {
	case s.Status == state.Failed:
		return events.Failed
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
