//go:build !linux

package state

import "os"

// replace puts the file tmp in dst's place, atomically (see replace_linux.go).
func replace(tmp, dst string) error { return os.Rename(tmp, dst) }
