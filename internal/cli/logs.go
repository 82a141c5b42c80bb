package cli

import (
	"os"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/windmilleng/pets/supervise"
)

func newLogsCmd(g *globals) *cobra.Command {
	var (
		follow bool
		mode   string
	)
	cmd := &cobra.Command{
		Use:   "logs [SERVICE...]",
		Short: "Print the logs of services",
		Long: `Print what services wrote to stdout and stderr, kept across restarts in the
state directory. A SERVICE is a name (every tier) or name-tier. With several
services each line is prefixed with its service, one colour each (off when
NO_COLOR is set or output is not a terminal).

A log rotates when it reaches 50 MB (PETS_LOG_MAX=10M changes that; 0: never):
NAME-TIER.log becomes NAME-TIER.log.1, and so on up to .3; older output is
removed. pets logs prints the rotated files first, oldest first; -f follows
the log across rotations without losing or repeating a line.`,
		Example: `  pets logs backend
  pets logs -f
  pets logs -f backend frontend-local`,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := g.openState()
			if err != nil {
				return err
			}
			files, err := supervise.LogFiles(dir, args)
			if err != nil {
				return err
			}
			tty := false
			if f, ok := g.stdout.(*os.File); ok {
				tty = isatty.IsTerminal(f.Fd())
			}
			return supervise.ShowLogs(cmd.Context(), files, follow, g.stdout, supervise.ColorEnabled(mode, tty, os.Getenv("NO_COLOR")))
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines until interrupted")
	cmd.Flags().StringVar(&mode, "color", "auto", "colour the service prefixes: auto, always or never")
	return cmd
}
