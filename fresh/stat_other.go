//go:build !linux

package fresh

import (
	"os"
	"path/filepath"

	"github.com/windmilleng/pets/internal/dirent"
)

// lstatIn returns the stat of name in dir (d, dir open, is unused here).
func lstatIn(_ *dirent.Dir, dir, name string) (FileStat, error) {
	return lstat(filepath.Join(dir, name))
}

// lstat returns the stat of path.
func lstat(path string) (FileStat, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return FileStat{}, err
	}
	return statOf(fi), nil
}
