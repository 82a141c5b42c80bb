package supervise

import (
	"bufio"
	"io"
	"os"
	"strings"
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

func joinLines(lines []string, sep string) string { return strings.Join(lines, sep) }
