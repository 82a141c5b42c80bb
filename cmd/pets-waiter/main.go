// Command pets-waiter is what each server a Petsfile start()s runs under:
// the waiter of package waiter in a binary of its own, without client-go
// or Starlark, so that it starts in a few milliseconds. pets runs it from
// beside its own binary (else it runs `pets waiter`); it is not for people.
//
//	pets-waiter waiter --log PATH [--log-max BYTES] [--state DIR --service NAME] LINE
package main

import (
	"fmt"
	"os"

	"github.com/windmilleng/pets/waiter"
)

func main() {
	args := os.Args[1:]
	if len(args) == 0 || args[0] != waiter.Command {
		fmt.Fprintf(os.Stderr, "pets-waiter: run by pets, not by hand (usage: pets-waiter %s --log PATH ... LINE)\n", waiter.Command)
		os.Exit(2)
	}
	// It ends as its command ended (Run re-raises a signal that killed it).
	os.Exit(waiter.Run(args[1:]))
}
