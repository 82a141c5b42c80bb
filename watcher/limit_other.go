//go:build !linux

package watcher

// watchLimit: only Linux has a per-user watch limit the watcher can run into.
func watchLimit() (limit, nsLimit int) { return 0, 0 }
