//go:build !linux

package state

import "os"

// replace puts the file tmp in dst's place, atomically (see replace_linux.go).
func replace(tmp, dst string) error { return os.Rename(tmp, dst) }

// tempFile returns a new file for a write to fill, and its name.
func (d *Dir) tempFile() (*os.File, string, error) {
	f, err := os.CreateTemp(d.Path, "state-*.json")
	if err != nil {
		return nil, "", err
	}
	return f, f.Name(), nil
}

// makeAhead: nothing here (see replace_linux.go).
func (d *Dir) makeAhead() {}
