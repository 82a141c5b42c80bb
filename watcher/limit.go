package watcher

import (
	"fmt"
	"strings"
)

// LimitError says the watcher ran out of inotify watches (inotify_add_watch
// failed with ENOSPC), so some directories are not watched and their changes
// would be missed. New returns it; a running Watcher sends it on Errors, and the
// caller should stop rather than go on half-blind.
type LimitError struct {
	Needed  int   // directories under the roots that need a watch, this one included
	Limit   int   // fs.inotify.max_user_watches; 0 if it could not be read
	NSLimit int   // user.max_inotify_watches when the user namespace sets a lower limit, else 0
	Err     error // the error of inotify_add_watch (ENOSPC)
}

// suggest returns a value of fs.inotify.max_user_watches to propose: the
// common 524288, doubled until it covers the current limit plus what pets needs.
func (e *LimitError) suggest() int {
	n := 524288
	for n < e.Limit+e.Needed || n < e.NSLimit+e.Needed {
		n *= 2
	}
	return n
}

func (e *LimitError) Error() string {
	var b strings.Builder
	limit := "unknown"
	if e.Limit > 0 {
		limit = fmt.Sprint(e.Limit)
	}
	n := e.suggest()
	fmt.Fprintf(&b, "watch directories: out of inotify watches: pets needs one per watched directory, %d here, "+
		"and fs.inotify.max_user_watches is %s", e.Needed, limit)
	if e.NSLimit > 0 {
		fmt.Fprintf(&b, " but user.max_inotify_watches lowers it to %d in this user namespace (a container or sandbox)", e.NSLimit)
	}
	fmt.Fprintf(&b, "; the limit is per user and shared with every other program that watches files (editors, IDEs, other watchers). "+
		"Raise it with:\n\tsudo sysctl fs.inotify.max_user_watches=%d\n"+
		"and keep it across reboots with the line fs.inotify.max_user_watches=%d in /etc/sysctl.d/99-pets.conf", n, n)
	if e.NSLimit > 0 {
		fmt.Fprintf(&b, "; inside this namespace, its owner must also raise user.max_inotify_watches to %d", n)
	}
	b.WriteString("; or ignore large directories (node_modules, build output) in .petsignore")
	if e.Err != nil {
		fmt.Fprintf(&b, " (%v)", e.Err)
	}
	return b.String()
}

func (e *LimitError) Unwrap() error { return e.Err }
