package fresh

import (
	"io/fs"
	"syscall"
)

// changeTime is fi's status change time (ns), which no tool can set back.
func changeTime(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ctimespec.Nano()
	}
	return fi.ModTime().UnixNano()
}
