package cli

import (
	"os"
	"strconv"
)

// outputFiles returns the regular files this process's stdout and stderr
// write to (`pets up --watch > pets.log`), by their /proc/self/fd links.
func outputFiles() []string {
	var out []string
	for _, f := range []*os.File{os.Stdout, os.Stderr} {
		if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd()))); err == nil && len(p) > 0 && p[0] == '/' {
			out = append(out, p)
		}
	}
	return out
}
