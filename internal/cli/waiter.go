package cli

import (
	"os"

	"github.com/windmilleng/pets/waiter"

	"github.com/spf13/cobra"
)

// newWaiterCmd is `pets waiter`, what every server a Petsfile start()s runs
// under where no pets-waiter is installed beside pets (see package waiter). Not
// for people: hidden.
func newWaiterCmd(*globals) *cobra.Command {
	return &cobra.Command{
		Use:                waiter.Command + " --log PATH [--log-max BYTES] [--state DIR --service NAME] LINE",
		Short:              "Run a service's command, own its output and record how it ended (pets runs this)",
		Hidden:             true,
		DisableFlagParsing: true,
		Run: func(cmd *cobra.Command, args []string) {
			// The waiter is a program of its own that shares the binary: it
			// ends as its command ended (RunWaiter re-raises a signal that
			// killed it), not through main's error path, which would print.
			os.Exit(waiter.Run(args))
		},
	}
}
