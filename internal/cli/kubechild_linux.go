package cli

import (
	"os/exec"
	"syscall"
)

// diesWithPets kills cmd if pets dies first: a pets-kube apply left behind
// would be a process no state records.
func diesWithPets(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
