package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/windmilleng/pets/supervise"
)

func newDownCmd(g *globals) *cobra.Command {
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "down [SERVICE...]",
		Short: "Stop running services, dependents first",
		Long: `Stop the named services and every running service that depends on them (all
running services when none is named), dependents first. Each process group
gets SIGTERM, then SIGKILL once the grace period has passed; pets waits until
the whole group is gone. No Petsfile is needed: pets down reads its records.`,
		Example: `  pets down
  pets down backend          # also stops frontend if it depends on backend
  pets down --grace 1s`,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := g.openState()
			if err != nil {
				return err
			}
			return supervise.DownAll(cmd.Context(), dir, args, grace, g.stdout, g.events(dir, "down", nil))
		},
	}
	cmd.Flags().DurationVar(&grace, "grace", supervise.DefaultGrace, "time between SIGTERM and SIGKILL")
	return cmd
}
