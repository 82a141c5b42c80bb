package proc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// CgroupMount returns where the cgroup v2 hierarchy is mounted (the first
// cgroup2 mount of /proc/self/mountinfo: /sys/fs/cgroup on a unified
// system, /sys/fs/cgroup/unified on a hybrid one) and the path, within the
// hierarchy, of the mount's root ("/" unless in a cgroup namespace).
//
// It is read once per process: the kernel renders every mount for a read
// of mountinfo (0.14 ms a call here, where each start of a service makes a
// cgroup).
func CgroupMount() (dir, root string, err error) {
	cgroupMount.Lock()
	defer cgroupMount.Unlock()
	if cgroupMount.dir != "" {
		return cgroupMount.dir, cgroupMount.root, nil
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", "", fmt.Errorf("proc: find the cgroup2 mount: %w", err)
	}
	if dir, root, err = parseCgroup2Mount(b); err == nil {
		cgroupMount.dir, cgroupMount.root = dir, root
	}
	return dir, root, err
}

// cgroupMount is what CgroupMount found (dir "": not yet).
var cgroupMount struct {
	sync.Mutex
	dir, root string
}

// parseCgroup2Mount finds the first cgroup2 mount in mountinfo:
//
//	41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
//
// Fields: id, parent, dev, root, mount point, options, optional fields
// up to "-", then the filesystem type.
func parseCgroup2Mount(mountinfo []byte) (dir, root string, err error) {
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := -1
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(f) || f[sep+1] != "cgroup2" {
			continue
		}
		return unescapeMount(f[4]), unescapeMount(f[3]), nil
	}
	return "", "", fmt.Errorf("proc: no cgroup2 filesystem is mounted: %w", errors.ErrUnsupported)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// OwnCgroup returns the cgroup v2 path of this process ("0::/path" in
// /proc/self/cgroup), relative to the hierarchy's root.
func OwnCgroup() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("proc: own cgroup: %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("proc: own cgroup: no cgroup v2 entry in /proc/self/cgroup: %w", errors.ErrUnsupported)
}

// bornIn makes cmd's process be born in the cgroup directory dir
// (CLONE_INTO_CGROUP, Linux 5.7); done closes what it opened, once cmd
// has started.
func bornIn(cmd *exec.Cmd, dir string) (done func(), ok bool) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	return func() { _ = unix.Close(fd) }, true
}

// CgroupAdd moves pid into the cgroup directory dir.
func CgroupAdd(dir string, pid int) error {
	f, err := os.OpenFile(filepath.Join(dir, "cgroup.procs"), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("proc: put pid %d in cgroup %s: %w", pid, dir, err)
	}
	_, err = f.WriteString(strconv.Itoa(pid))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("proc: put pid %d in cgroup %s: %w", pid, dir, err)
	}
	return nil
}

// cgroupOnly says whether the processes of the cgroup dir are pids and
// no others, with no cgroup below it (whose processes its cgroup.procs does
// not list): two small reads, where CgroupProcs walks the directory.
func cgroupOnly(dir string, pids ...int) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.stat"))
	if err != nil || !bytes.Contains(b, []byte("nr_descendants 0\n")) {
		return false
	}
	if b, err = os.ReadFile(filepath.Join(dir, "cgroup.procs")); err != nil {
		return false
	}
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil || !slices.Contains(pids, pid) {
			return false
		}
	}
	return true
}

// CgroupProcs returns the processes of the cgroup dir and of the cgroups
// below it.
func CgroupProcs(dir string) ([]int, error) {
	var out []int
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				out = append(out, pid)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("proc: processes of cgroup %s: %w", dir, err)
	}
	return out, nil
}

// CgroupPopulated reports whether a process runs in dir or below
// ("populated 1" in cgroup.events).
func CgroupPopulated(dir string) (bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "populated "); ok {
			return strings.TrimSpace(v) == "1", nil
		}
	}
	return false, fmt.Errorf("proc: %s/cgroup.events has no populated line", dir)
}

// errNoCgroupKill is cgroupKill's answer on kernels before 5.14.
var errNoCgroupKill = errors.New("proc: cgroup.kill is not available (Linux 5.14 or later)")

// cgroupKill SIGKILLs every process of dir and below, at once, in the
// kernel (no process can fork its way out).
func cgroupKill(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, "cgroup.kill"), os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(dir); serr == nil {
			return errNoCgroupKill
		}
	}
	if err != nil {
		return err
	}
	_, err = f.WriteString("1")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// RemoveCgroup removes the cgroup directory dir and those below it, which
// must be empty of processes; one already gone is no error.
func RemoveCgroup(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("proc: remove cgroup %s: %w", dir, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		// A cgroup directory holds only kernel files: rmdir, not RemoveAll.
		if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("proc: remove cgroup %s: %w", dirs[i], err)
		}
	}
	return nil
}
