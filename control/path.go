package control

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// socketPath returns where the pets of pid with state directory dir
// (absolute) listens, and whether that is in the private fallback directory
// because the path in dir does not fit a socket address.
func socketPath(dir string, pid int) (string, bool, error) {
	p := filepath.Join(dir, "watch-"+strconv.Itoa(pid)+".sock")
	if fits(longestBindPath(p)) {
		return p, false, nil
	}
	sum := sha256.Sum256([]byte(dir + "\x00" + strconv.Itoa(pid)))
	p = filepath.Join(os.TempDir(), fallbackDirName(), hex.EncodeToString(sum[:8])+".sock")
	if !fits(p) {
		return "", false, fmt.Errorf("socket path %s is too long (%d bytes; a socket address holds %d): set TMPDIR to a shorter directory", p, len(p), maxPathLen-1)
	}
	return p, true, nil
}

// fits reports whether p, with its terminating NUL, fits a socket address.
func fits(p string) bool { return len(p)+1 <= maxPathLen }

// removeStale removes the socket file at path if it is left over from a pets
// that has gone: only if a connection to it is refused.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check socket %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("check socket %s: it exists and is not a socket; remove it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("check socket %s: another process answers there", path)
	}
	if !noListener(err) {
		return fmt.Errorf("check socket %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}
