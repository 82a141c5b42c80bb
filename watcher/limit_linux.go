package watcher

import (
	"os"
	"strconv"
	"strings"
)

// Where Linux keeps the inotify watch limit. fs.inotify.max_user_watches is the
// system-wide per-user limit; user.max_inotify_watches is the limit of the
// current user namespace, which may be lower (containers, sandboxes).
const (
	maxUserWatchesFile = "/proc/sys/fs/inotify/max_user_watches"
	maxNSWatchesFile   = "/proc/sys/user/max_inotify_watches"
)

func readInt(file string) (int, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}

// watchLimit returns fs.inotify.max_user_watches and, if the current user
// namespace sets a lower user.max_inotify_watches, that lower value.
func watchLimit() (limit, nsLimit int) {
	sys, okSys := readInt(maxUserWatchesFile)
	ns, okNS := readInt(maxNSWatchesFile)
	if okNS && (!okSys || ns < sys) {
		nsLimit = ns
	}
	return sys, nsLimit
}
