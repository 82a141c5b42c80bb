//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "pets-restart: pets-restart runs only in Linux containers "+
		"(it restarts a container's command in place, for pets sync rules with restart=True)")
	os.Exit(1)
}
