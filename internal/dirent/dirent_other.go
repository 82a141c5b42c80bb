//go:build !linux

package dirent

import (
	"io/fs"
	"os"
	"syscall"
)

// Dir is an open directory.
type Dir struct {
	f *os.File
}

// Open opens the directory at path.
func Open(path string) (*Dir, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.IsDir() {
		f.Close()
		if err == nil {
			err = &fs.PathError{Op: "open", Path: path, Err: syscall.ENOTDIR}
		}
		return nil, err
	}
	return &Dir{f: f}, nil
}

// Close closes the directory.
func (d *Dir) Close() error { return d.f.Close() }

// Read appends d's entries to ents and returns it. Entries read before an
// error are returned with it.
func (d *Dir) Read(ents []Entry) ([]Entry, error) {
	des, err := d.f.ReadDir(-1)
	for _, e := range des {
		ents = append(ents, Entry{Name: e.Name(), Dir: e.IsDir()})
	}
	return ents, err
}

// Leaf reports whether the subdirectory name of d certainly holds no
// directory and no .git. Here it cannot tell: false.
func (d *Dir) Leaf(name string) bool { return false }
