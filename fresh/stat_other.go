//go:build !linux

package fresh

import (
	"os"
	"path/filepath"

	"github.com/windmilleng/pets/internal/dirent"
)

// lstatIn returns the stat of name in dir (d, dir open, is unused here),
// and its status change time (changeTime).
func lstatIn(_ *dirent.Dir, dir, name string) (FileStat, int64, error) {
	fi, err := os.Lstat(filepath.Join(dir, name))
	if err != nil {
		return FileStat{}, 0, err
	}
	return statOf(fi), changeTime(fi), nil
}

// lstat returns the stat of path.
func lstat(path string) (FileStat, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return FileStat{}, err
	}
	return statOf(fi), nil
}
