//go:build !linux && !windows

package cli

import "os/exec"

// diesWithPets: no parent-death signal here; a killed pets's apply ends
// with its wait (5 minutes at most).
func diesWithPets(*exec.Cmd) {}
