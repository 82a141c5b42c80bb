//go:build darwin || freebsd

package control

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// peerUID returns the uid of the process at the other end of c (as it was
// when it connected or listened) and our own; ok is false where the
// platform cannot tell.
func peerUID(c *net.UnixConn) (peer, own int, ok bool, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, 0, false, fmt.Errorf("read peer credentials: %w", err)
	}
	var cred *unix.Xucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	}); err != nil {
		return 0, 0, false, fmt.Errorf("read peer credentials: %w", err)
	}
	if cerr != nil {
		return 0, 0, false, fmt.Errorf("read peer credentials: %w", cerr)
	}
	return int(cred.Uid), os.Geteuid(), true, nil
}
