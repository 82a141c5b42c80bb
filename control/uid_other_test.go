//go:build !linux && !darwin && !freebsd

package control

import (
	"fmt"
	"os"
)

// childEnv marks a test's child process; no test here starts one.
const childEnv = "PETS_CONTROL_TEST_CHILD"

func childMain(role string) int {
	fmt.Fprintf(os.Stderr, "no child role %q on this platform\n", role)
	return 2
}
