package cli

import (
	"errors"
	"os"
	"os/exec"
)

// handOver runs this command again as pets-kube, with handedOverEnv set,
// and exits with its status (Windows has no exec). It returns only if
// pets-kube cannot be started.
func handOver() error {
	exe, err := kubeBeside()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), handedOverEnv+"=1")
	if err := cmd.Start(); err != nil {
		return err
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		os.Exit(ee.ExitCode())
	}
	if err != nil {
		return err
	}
	os.Exit(0)
	return nil
}

func diesWithPets(*exec.Cmd) {}
