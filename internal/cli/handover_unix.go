//go:build !windows

package cli

import (
	"fmt"
	"os"
	"syscall"
)

// handOver runs this command again as pets-kube, in this process (exec):
// the same pid, arguments, environment and terminal, and handedOverEnv
// set. It returns only if that fails.
func handOver() error {
	exe, err := kubeBeside()
	if err != nil {
		return err
	}
	err = syscall.Exec(exe, append([]string{exe}, os.Args[1:]...), append(os.Environ(), handedOverEnv+"=1"))
	return fmt.Errorf("run %s: %w", exe, err)
}
