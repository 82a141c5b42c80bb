package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/windmilleng/pets/supervise"
)

// newWaiterCmd is `pets waiter`, what every server a Petsfile start()s runs
// under (see package supervise, waiter.go). Not for people: hidden.
func newWaiterCmd(*globals) *cobra.Command {
	return &cobra.Command{
		Use:                supervise.WaiterCommand + " --log PATH [--log-max BYTES] [--state DIR --service NAME] LINE",
		Short:              "Run a service's command, own its output and record how it ended (pets runs this)",
		Hidden:             true,
		DisableFlagParsing: true,
		Run: func(cmd *cobra.Command, args []string) {
			// The waiter is a program of its own that shares the binary: it
			// ends as its command ended (RunWaiter re-raises a signal that
			// killed it), not through main's error path, which would print.
			os.Exit(supervise.RunWaiter(args))
		},
	}
}
