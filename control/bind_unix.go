//go:build !windows

package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxPathLen is the size of sun_path: 108 on Linux, 104 on macOS and the BSDs.
var maxPathLen = len(unix.RawSockaddrUnix{}.Path)

// stagingPrefix names the 0700 directories a socket is bound in before it is
// renamed into the state directory; os.MkdirTemp appends at most 10 digits.
const stagingPrefix = ".s"

// longestBindPath is the longest path bind uses to put a socket at p.
func longestBindPath(p string) string {
	staged := filepath.Join(filepath.Dir(p), stagingPrefix+"4294967295", "s")
	if len(staged) > len(p) {
		return staged
	}
	return p
}

func fallbackDirName() string { return "pets-" + strconv.Itoa(os.Geteuid()) }

// bind listens on path with the socket file at mode 0600, and never
// reachable by another user at a wider mode (see the package documentation).
// private says path's directory is already the user's own 0700 directory.
func bind(path string, private bool) (*net.UnixListener, error) {
	if private {
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			return nil, fmt.Errorf("bind socket: %w", err)
		}
		ln.SetUnlinkOnClose(false) // Close removes it
		if err := os.Chmod(path, 0o600); err != nil {
			ln.Close()
			os.Remove(path)
			return nil, fmt.Errorf("chmod socket: %w", err)
		}
		return ln, nil
	}
	stage, err := os.MkdirTemp(filepath.Dir(path), stagingPrefix)
	if err != nil {
		return nil, fmt.Errorf("bind socket: %w", err)
	}
	defer os.RemoveAll(stage)
	tmp := filepath.Join(stage, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("bind socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // it moves; Close removes it where it ends up
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod socket: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("move socket into place: %w", err)
	}
	return ln, nil
}

// ensurePrivateDir makes sure d is a directory of ours with mode 0700,
// creating it if needed.
func ensurePrivateDir(d string) error {
	err := os.Mkdir(d, 0o700)
	switch {
	case err == nil:
		// New and ours: exactly 0700, whatever the umask took away.
		if err := os.Chmod(d, 0o700); err != nil {
			return fmt.Errorf("create socket directory: %w", err)
		}
	case !errors.Is(err, os.ErrExist):
		return fmt.Errorf("create socket directory: %w", err)
	}
	fi, err := os.Lstat(d)
	if err != nil {
		return fmt.Errorf("check socket directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("check socket directory %s: it is not a directory (%s); remove it, or set TMPDIR to a directory of your own", d, fi.Mode().Type())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("check socket directory %s: it belongs to uid %d, not to us (uid %d), so someone else can use it; remove it, or set TMPDIR to a directory of your own", d, st.Uid, os.Geteuid())
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		return fmt.Errorf("check socket directory %s: its mode is %#o, not 0700, so someone else may use it; chmod 700 it if you made it, or set TMPDIR to a directory of your own", d, perm)
	}
	return nil
}

// noListener reports whether a dial error means nothing listens there.
func noListener(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, os.ErrNotExist)
}
