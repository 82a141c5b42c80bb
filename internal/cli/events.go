package cli

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/state"
)

func newEventsCmd(g *globals) *cobra.Command {
	var (
		follow bool
		last   int
		types  []string
	)
	cmd := &cobra.Command{
		Use:   "events [SERVICE...]",
		Short: "Print what happened, as JSON lines",
		Long: `Print pets' events, one JSON object a line, exactly as they are kept in the
state directory (events.jsonl): every state change of a service, every round a
watching pets planned and finished, every Petsfile reload, every problem of the
file watcher. The newest come last.

A SERVICE is a name (every tier) or name-tier; an event concerns a service when
it is about it, or lists it among its services, steps or reloaded services.
--type keeps the events of a type, or of every type it is a prefix of
("service." for all service events); give several, repeated or separated by
commas, to keep the events of any of them.
-n counts the events kept by these filters. With -f, pets events keeps printing
new events until interrupted (Ctrl-C), and then exits 0.

Each event carries v (the schema version), time, type and source (the pets
command that wrote it); a reader must ignore fields it does not know. The
types and their fields: docs/events.md.`,
		Example: `  pets events                       # the last 50 events
  pets events -f                    # and every new one, until Ctrl-C
  pets events -n 0 -f --type service.failed,service.crashed
  pets events -n 200 backend        # backend, whatever its tier
  pets events --type round. | jq -c '{round, tookMs, steps: [.steps[] | {service, result}]}'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			match, err := eventFilter(args, types)
			if err != nil {
				return err
			}
			dir, err := g.openState()
			if err != nil {
				return err
			}
			q := state.EventQuery{Last: last, Match: match, Follow: follow}
			err = dir.ReadEvents(cmd.Context(), q, func(_ events.Event, line []byte) error {
				_, err := fmt.Fprintf(g.stdout, "%s\n", line)
				return err
			})
			if errors.Is(err, syscall.EPIPE) {
				return nil // pets events | head: the reader has had enough
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events until interrupted")
	cmd.Flags().IntVarP(&last, "last", "n", 50, "how many recent events to print first (0: none, -1: every one kept)")
	cmd.Flags().StringSliceVar(&types, "type", nil, "print only events of this type, or of the types it is a prefix of (repeatable, or comma-separated)")
	return cmd
}

// eventFilter returns the test an event must pass to be printed: nil when
// there is nothing to filter on. A --type that is no type nor a prefix of
// one is a mistake worth saying.
func eventFilter(services, types []string) (func(events.Event) bool, error) {
	for _, t := range types {
		known := false
		for _, k := range events.Types {
			known = known || strings.HasPrefix(string(k), t)
		}
		if !known {
			names := make([]string, len(events.Types))
			for i, k := range events.Types {
				names[i] = string(k)
			}
			return nil, &petsfile.UsageError{
				Msg:  fmt.Sprintf("no event type is or starts with %q", t),
				Hint: "the types: " + strings.Join(names, ", "),
			}
		}
	}
	if len(services) == 0 && len(types) == 0 {
		return nil, nil
	}
	return func(e events.Event) bool {
		return matchesType(e.Type, types) && concerns(e, services)
	}, nil
}

func matchesType(t events.Type, types []string) bool {
	if len(types) == 0 {
		return true
	}
	for _, p := range types {
		if strings.HasPrefix(string(t), p) {
			return true
		}
	}
	return false
}

// concerns says whether e is about one of services (names or name-tier).
func concerns(e events.Event, services []string) bool {
	if len(services) == 0 {
		return true
	}
	keys := append([]string{e.Service}, e.Services...)
	for _, s := range e.Steps {
		keys = append(keys, s.Service)
	}
	if r := e.Reload; r != nil {
		keys = append(append(append(keys, r.Added...), r.Removed...), r.Changed...)
	}
	for _, k := range keys {
		for _, s := range services {
			// Tiers have no '-': "name-tier" splits at the last one.
			if k != "" && (k == s || (strings.HasPrefix(k, s+"-") && !strings.Contains(k[len(s)+1:], "-"))) {
				return true
			}
		}
	}
	return false
}
