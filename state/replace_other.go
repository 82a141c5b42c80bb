//go:build !linux

package state

import "os"

// replace puts the file tmp in dst's place, atomically (see replace_linux.go).
func replace(tmp, dst string) error { return os.Rename(tmp, dst) }

// tempFile returns a new file for a write to fill, and its name.
func (d *Dir) tempFile() (*os.File, string, error) { return d.newTemp() }

// makeAhead: nothing here (see replace_linux.go).
func (d *Dir) makeAhead() {}
