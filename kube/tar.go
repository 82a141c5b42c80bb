package kube

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ErrUnsafePath is what an [*UnsafePathError] unwraps to.
var ErrUnsafePath = errors.New("kube: unsafe path")

// UnsafePathError is a path that sync refuses because it would read or write outside its
// root: an absolute name, one that climbs out with "..", or a symlink that leads out.
type UnsafePathError struct {
	Path   string
	Reason string
}

func (e *UnsafePathError) Error() string {
	return fmt.Sprintf("unsafe path %q: %s", e.Path, e.Reason)
}

func (e *UnsafePathError) Unwrap() error { return ErrUnsafePath }

// CleanRel checks that p is a relative path that stays inside its root and returns it
// cleaned, with forward slashes ("a/../b" becomes "b"; "../x", "/etc/passwd", "." and "" are
// refused with an [*UnsafePathError]).
func CleanRel(p string) (string, error) {
	if p == "" {
		return "", &UnsafePathError{Path: p, Reason: "empty path"}
	}
	if filepath.IsAbs(p) || filepath.VolumeName(p) != "" || strings.HasPrefix(filepath.ToSlash(p), "/") {
		return "", &UnsafePathError{Path: p, Reason: "absolute path; sync paths are relative to their root"}
	}
	c := path.Clean(filepath.ToSlash(p))
	switch {
	case c == ".." || strings.HasPrefix(c, "../"):
		return "", &UnsafePathError{Path: p, Reason: "climbs out of its root with .."}
	case c == ".":
		return "", &UnsafePathError{Path: p, Reason: "names the root itself"}
	}
	return c, nil
}

// WriteTar writes a tar of the given paths, relative to root, to w: regular files with their
// content, directories as entries of their own (not their contents), symlinks as symlinks.
// Modes and modification times are kept; owners are written as 0:0 so a root container
// owns what it extracts, as after an image COPY.
//
// It reads nothing outside root: names are checked with [CleanRel], a path whose parent
// directory resolves outside root (through a symlink) is refused, and a symlink is kept only
// if its target stays inside root (an absolute target inside root is rewritten relative, so
// it still points at the same file once extracted elsewhere); otherwise the error is an
// [*UnsafePathError]. A path that does not exist is an error wrapping [fs.ErrNotExist].
// Other file types (sockets, devices, FIFOs) are errors.
func WriteTar(w io.Writer, root string, files []string) error {
	rootAbs, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("write tar: %w", err)
	}
	rootReal, err := filepath.EvalSymlinks(rootAbs)
	if err != nil {
		return fmt.Errorf("write tar: root: %w", err)
	}
	tw := tar.NewWriter(w)
	for _, f := range files {
		rel, err := CleanRel(f)
		if err != nil {
			return fmt.Errorf("write tar: %w", err)
		}
		if err := addToTar(tw, rootAbs, rootReal, rel); err != nil {
			return fmt.Errorf("write tar: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write tar: %w", err)
	}
	return nil
}

func addToTar(tw *tar.Writer, rootAbs, rootReal, rel string) error {
	local := filepath.Join(rootReal, filepath.FromSlash(rel))
	parentReal, err := filepath.EvalSymlinks(filepath.Dir(local))
	if err != nil {
		return err
	}
	if !within(rootReal, parentReal) {
		return &UnsafePathError{Path: rel, Reason: fmt.Sprintf("its directory leads out of %s through a symlink (to %s)", rootAbs, parentReal)}
	}
	local = filepath.Join(parentReal, filepath.Base(local))
	fi, err := os.Lstat(local)
	if err != nil {
		return err
	}
	hdr := &tar.Header{
		Name:    rel,
		ModTime: fi.ModTime().Truncate(1e9),
		Format:  tar.FormatPAX,
	}
	// Permission bits plus setuid/setgid/sticky in tar's encoding.
	hdr.Mode = int64(fi.Mode().Perm())
	if fi.Mode()&fs.ModeSetuid != 0 {
		hdr.Mode |= 0o4000
	}
	if fi.Mode()&fs.ModeSetgid != 0 {
		hdr.Mode |= 0o2000
	}
	if fi.Mode()&fs.ModeSticky != 0 {
		hdr.Mode |= 0o1000
	}
	switch {
	case fi.Mode().IsRegular():
		f, err := os.Open(local)
		if err != nil {
			return err
		}
		defer f.Close()
		ofi, err := f.Stat()
		if err != nil {
			return err
		}
		if !os.SameFile(fi, ofi) {
			return fmt.Errorf("%s changed while being read", rel)
		}
		hdr.Typeflag = tar.TypeReg
		hdr.Size = ofi.Size()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%s shrank while being read", rel)
			}
			return err
		}
		return nil
	case fi.IsDir():
		hdr.Typeflag = tar.TypeDir
		hdr.Name = rel + "/"
		return tw.WriteHeader(hdr)
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(local)
		if err != nil {
			return err
		}
		linkname, err := safeLinkTarget(rootAbs, rootReal, parentReal, rel, target)
		if err != nil {
			return err
		}
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = linkname
		hdr.Mode = 0o777
		return tw.WriteHeader(hdr)
	}
	return fmt.Errorf("%s: not a regular file, directory or symlink (%s)", rel, fi.Mode().Type())
}

// safeLinkTarget returns the target to store for the symlink rel (in directory dirReal) whose
// target is target, or an error if it leads outside the root.
func safeLinkTarget(rootAbs, rootReal, dirReal, rel, target string) (string, error) {
	if target == "" {
		return "", &UnsafePathError{Path: rel, Reason: "symlink with an empty target"}
	}
	var abs string
	switch {
	case filepath.IsAbs(target) && within(rootAbs, filepath.Clean(target)):
		// Written through the unresolved root (e.g. /tmp/x when /tmp is itself a symlink).
		r, _ := filepath.Rel(rootAbs, filepath.Clean(target))
		abs = filepath.Join(rootReal, r)
	case filepath.IsAbs(target):
		abs = filepath.Clean(target)
	default:
		abs = filepath.Join(dirReal, target)
	}
	if !within(rootReal, abs) {
		return "", &UnsafePathError{Path: rel, Reason: fmt.Sprintf("symlink to %s, outside %s", target, rootAbs)}
	}
	// If the target exists, where it really leads must stay inside too (a chain of links).
	if real, err := filepath.EvalSymlinks(abs); err == nil && !within(rootReal, real) {
		return "", &UnsafePathError{Path: rel, Reason: fmt.Sprintf("symlink to %s, which leads to %s, outside %s", target, real, rootAbs)}
	}
	if !filepath.IsAbs(target) {
		return filepath.ToSlash(target), nil
	}
	r, err := filepath.Rel(dirReal, abs)
	if err != nil {
		return "", err
	}
	return filepath.ToSlash(r), nil
}

// within reports whether p is root or below it (both clean and absolute).
func within(root, p string) bool {
	if p == root {
		return true
	}
	r, err := filepath.Rel(root, p)
	return err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) && !filepath.IsAbs(r)
}

// maxSyncArgBytes bounds the delete list passed in the exec URL's query string.
const maxSyncArgBytes = 64 << 10

// ErrTooManyDeletes means a delete list is too long for one exec request; split it over
// several [SyncCommand]s (with an empty tar for all but one) or restart instead.
var ErrTooManyDeletes = errors.New("kube: too many paths to delete in one sync")

// syncScript runs in the container as: sh -c syncScript sh DIR [DELETE...]. It creates DIR,
// deletes the given paths relative to it, then unpacks the tar on stdin into it. The paths
// arrive as arguments, never through the script text, so no quoting is involved.
const syncScript = `set -e
mkdir -p -- "$1"
cd -- "$1"
shift
if [ "$#" -gt 0 ]; then rm -rf -- "$@"; fi
exec tar -x -f -`

// SyncCommand returns the command that, run in a container with a tar from [WriteTar] on
// stdin, deletes the given paths (relative to dir, checked with [CleanRel]) and then unpacks
// the tar into dir, creating dir if needed. dir must be an absolute container path.
//
// The container needs sh, mkdir, rm and tar (busybox has them all). The Go side is what keeps
// writes inside dir: [WriteTar] never emits an escaping name or link. busybox and GNU tar
// also strip leading "/" and "../" from member names, a second line of defence; but tar
// follows a symlink already present under dir, so a link the image itself put there that
// leads out of dir is written through (pets never creates one). A delete list longer than
// 64 KB is refused with [ErrTooManyDeletes].
func SyncCommand(dir string, deletes []string) ([]string, error) {
	if !path.IsAbs(dir) {
		return nil, fmt.Errorf("sync command: container directory %q is not absolute", dir)
	}
	argv := []string{"sh", "-c", syncScript, "sh", path.Clean(dir)}
	n := 0
	for _, d := range deletes {
		rel, err := CleanRel(d)
		if err != nil {
			return nil, fmt.Errorf("sync command: delete: %w", err)
		}
		n += len(rel) + 1
		argv = append(argv, rel)
	}
	if n > maxSyncArgBytes {
		return nil, fmt.Errorf("%w (%d paths, %d bytes)", ErrTooManyDeletes, len(deletes), n)
	}
	return argv, nil
}

// SyncScript is a whole sync of one pod in one exec: delete paths under Dir and unpack the
// tar on stdin into it (as [SyncCommand] does), then run the commands Run one after the
// other, stopping at the first that fails, and, if they all succeeded, replace the shell with
// Then (pets-restart -restart, say). Every exec costs a round trip through the API server,
// the kubelet and the container runtime (40-60 ms on the test cluster), so a sync with a
// command and a restart takes one instead of three.
//
// Each Run command runs as sh -c CMD from the container's working directory (not Dir), with
// stdin from /dev/null and its stderr merged into its stdout; its output ends with a line of
// its own naming its exit code (see [ParseSyncOutput]). Then gets the exec's streams.
type SyncScript struct {
	Dir     string   // absolute container directory; "" sends no tar (stdin is not read)
	Deletes []string // relative to Dir, checked with [CleanRel]
	Run     []string // shell commands
	Then    []string // argv exec'd last, once the files are in and every command succeeded
}

// syncAllScript runs as: sh -c syncAllScript sh MARK DIR NRUN NTHEN RUN... THEN... DELETE...
// Values reach it only as arguments: the eval'd strings hold variable names, never values.
// (No set -e: a shell ignores it in a subshell whose status is tested; each step is checked.)
const syncAllScript = `m=$1 d=$2 nr=$3 nt=$4
shift 4
i=0
while [ "$i" -lt "$nr" ]; do eval "r$i=\$1"; shift; i=$((i+1)); done
e=
i=0
while [ "$i" -lt "$nt" ]; do eval "t$i=\$1"; e="$e \"\$t$i\""; shift; i=$((i+1)); done
if [ -n "$d" ]; then
	(
		mkdir -p -- "$d" && cd -- "$d" || exit
		if [ "$#" -gt 0 ]; then rm -rf -- "$@" || exit; fi
		exec tar -x -f -
	)
	s=$?
	[ "$s" -eq 0 ] || exit "$s"
	printf '\n%s files 0\n' "$m"
fi
i=0
while [ "$i" -lt "$nr" ]; do
	eval "c=\$r$i"
	s=0
	sh -c "$c" </dev/null 2>&1 || s=$?
	printf '\n%s run %d\n' "$m" "$s"
	[ "$s" -eq 0 ] || exit "$s"
	i=$((i+1))
done
if [ -n "$e" ]; then eval "exec$e"; fi`

// Command returns the argv that runs s in a container. mark must be a string no command's
// output contains (a random one per sync): it ends each step's output on stdout. The checks
// are [SyncCommand]'s.
func (s SyncScript) Command(mark string) ([]string, error) {
	if mark == "" || strings.ContainsAny(mark, " \n%\\") {
		return nil, fmt.Errorf("sync script: bad mark %q", mark)
	}
	dir := ""
	var deletes []string
	if s.Dir != "" {
		argv, err := SyncCommand(s.Dir, s.Deletes)
		if err != nil {
			return nil, err
		}
		dir, deletes = argv[4], argv[5:]
	} else if len(s.Deletes) > 0 {
		return nil, errors.New("sync script: deletes without a directory")
	}
	argv := []string{"sh", "-c", syncAllScript, "sh", mark, dir, fmt.Sprint(len(s.Run)), fmt.Sprint(len(s.Then))}
	argv = append(argv, s.Run...)
	argv = append(argv, s.Then...)
	return append(argv, deletes...), nil
}

// SyncOutput is a [SyncScript]'s stdout split by step.
type SyncOutput struct {
	Files bool        // the files are in (the tar step succeeded, or there was none)
	Runs  []RunOutput // the commands that ended, in order (the last one may have failed)
	Rest  []byte      // what came after the last step's end: Then's output, or, without any step end, the tar step's
}

// RunOutput is one command's output (stdout and stderr merged) and exit code.
type RunOutput struct {
	Output []byte
	Code   int
}

// ParseSyncOutput splits what a [SyncScript] run with mark wrote to stdout. dir says
// whether it had a tar step (SyncScript.Dir != "").
func ParseSyncOutput(stdout []byte, mark string, dir bool) SyncOutput {
	out := SyncOutput{Files: !dir}
	sep := []byte("\n" + mark + " ")
	for {
		i := bytes.Index(stdout, sep)
		if i < 0 {
			break
		}
		line := stdout[i+len(sep):]
		j := bytes.IndexByte(line, '\n')
		if j < 0 {
			break // cut off mid-line: the rest stays Rest
		}
		var step string
		var code int
		if _, err := fmt.Sscanf(string(line[:j]), "%s %d", &step, &code); err != nil {
			break
		}
		switch step {
		case "files":
			out.Files = true
		case "run":
			out.Runs = append(out.Runs, RunOutput{Output: stdout[:i], Code: code})
		}
		stdout = line[j+1:]
	}
	out.Rest = stdout
	return out
}
