package logfile

import (
	"bufio"
	"io"
	"os"
)

// tailFrom returns the last n lines of the file at path written after offset.
func tailFrom(path string, offset int64, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines
}

// TailSince returns the last n lines of a log written since pos, across
// the rotations since.
func TailSince(pos Pos, n int) []string {
	chain := Chain(pos.path)
	from := len(chain) - 1 // unknown: the log as it is now, from pos.off
	if pos.file != nil {
		from = -1
		for i, p := range chain {
			if fi, err := os.Stat(p); err == nil && os.SameFile(fi, pos.file) {
				from = i
			}
		}
		if from < 0 {
			// Rotated out of the kept files: what is left of it is all newer.
			from, pos.off = 0, 0
		}
	}
	var lines []string
	for i := from; i < len(chain); i++ {
		off := int64(0)
		if i == from {
			off = pos.off
		}
		lines = append(lines, tailFrom(chain[i], off, n)...)
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}
