//go:build !linux

package proc

import (
	"errors"
	"fmt"
	"runtime"
)

// unsupported is what every question about sockets and process trees
// answers here: pets cannot tell, and says so.
func unsupported(what string) error {
	return fmt.Errorf("proc: %s on %s: %w", what, runtime.GOOS, errors.ErrUnsupported)
}

// Listening returns the TCP sockets that listen right now (Linux only).
func Listening() ([]Socket, error) { return nil, unsupported("listening sockets") }

// Holders returns the processes holding each socket (Linux only).
func Holders([]Socket, []int) (map[uint64][]int, error) {
	return nil, unsupported("socket holders")
}

// Sockets returns the inodes of the sockets pid has open (Linux only).
func Sockets(int) (map[uint64]bool, error) { return nil, unsupported("open sockets") }

// Tree returns the processes of a service's tree (Linux only).
func Tree(string, []int) ([]int, error) { return nil, unsupported("process trees") }

// CmdLine returns pid's command line; "" here: unknown.
func CmdLine(int) string { return "" }

// Environ returns the environment pid was started with (Linux only).
func Environ(int) ([]string, error) { return nil, unsupported("process environments") }

// Group returns the process group of pid (Linux only).
func Group(int) (int, error) { return 0, unsupported("process groups") }
