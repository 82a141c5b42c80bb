package control

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/windows"
)

// maxPathLen is the size of sun_path in afunix.h.
const maxPathLen = 108

// longestBindPath is the longest path bind uses to put a socket at p.
func longestBindPath(p string) string { return p }

// fallbackDirName: the temporary directory is the user's own on Windows.
func fallbackDirName() string { return "pets" }

// bind listens on path. Windows has no file modes: the socket file inherits
// the ACL of its directory (the state directory under %LocalAppData%, or
// the user's temporary directory), which only the user can use.
func bind(path string, _ bool) (*net.UnixListener, error) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("bind socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // Close removes it
	return ln, nil
}

// ensurePrivateDir makes sure d is a directory (not a link), creating it if
// needed.
func ensurePrivateDir(d string) error {
	if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create socket directory: %w", err)
	}
	fi, err := os.Lstat(d)
	if err != nil {
		return fmt.Errorf("check socket directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("check socket directory %s: it is not a directory (%s); remove it, or set TMP to a directory of your own", d, fi.Mode().Type())
	}
	return nil
}

// noListener reports whether a dial error means nothing listens there.
func noListener(err error) bool {
	return errors.Is(err, windows.WSAECONNREFUSED) || errors.Is(err, os.ErrNotExist)
}
