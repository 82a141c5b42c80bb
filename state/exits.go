package state

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/windmilleng/pets/proc"
)

// Exits: how a waiter's command ended (Proc.Exit) is written by the waiter
// to a file of its own, exits/NAME.PID.START, not into state.json: the
// waiter does it as its command's tree ends, while a stop waits for the
// waiter to exit, and a file of its own takes it no lock and no rewrite of
// every service's record (it took about a millisecond; 30 waiters ending at
// once queued for the lock). Read folds the files into the record it
// returns; the next Update writes them into state.json and removes them
// (and those of processes no longer recorded).

const exitsDir = "exits"

// RecordExit records that the command of the waiter id, recorded under
// service, ended as text.
func (d *Dir) RecordExit(service string, id proc.Identity, text string) error {
	dir := filepath.Join(d.Path, exitsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("record exit: %w", err)
	}
	// Written whole under a temporary name, then renamed: a reader never
	// sees it half written.
	tmp, err := os.CreateTemp(dir, ".exit-*")
	if err != nil {
		return fmt.Errorf("record exit: %w", err)
	}
	_, err = tmp.WriteString(text)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, exitName(service, id)))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("record exit: %w", err)
	}
	return nil
}

func exitName(service string, id proc.Identity) string {
	return fmt.Sprintf("%s.%d.%d", service, id.PID, id.Start)
}

// exitNote is one file of exits.
type exitNote struct {
	file    string // its name in exits
	service string
	id      proc.Identity
	text    string
	stale   bool // a temporary file left by a waiter killed while writing it
}

// readExits reads the files of exits (none if there is no such directory).
func (d *Dir) readExits() []exitNote {
	dir := filepath.Join(d.Path, exitsDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []exitNote
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Minute {
				out = append(out, exitNote{file: name, stale: true})
			}
			continue
		}
		n, ok := parseExitName(name)
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue // removed meanwhile: then state.json, read after, has it
		}
		n.text = string(b)
		out = append(out, n)
	}
	return out
}

// parseExitName parses NAME.PID.START (NAME may hold dots).
func parseExitName(name string) (exitNote, bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return exitNote{}, false
	}
	j := strings.LastIndexByte(name[:i], '.')
	if j <= 0 {
		return exitNote{}, false
	}
	pid, err1 := strconv.Atoi(name[j+1 : i])
	start, err2 := strconv.ParseUint(name[i+1:], 10, 64)
	if err1 != nil || err2 != nil {
		return exitNote{}, false
	}
	return exitNote{file: name, service: name[:j], id: proc.Identity{PID: pid, Start: start}}, true
}

// foldExits puts each note's text into the entry of its process in f, if
// f records it and does not say yet how it ended.
func foldExits(f *File, notes []exitNote) {
	for _, n := range notes {
		rec, ok := f.Services[n.service]
		if !ok || n.stale {
			continue
		}
		for i := range rec.Procs {
			if rec.Procs[i].Identity == n.id && rec.Procs[i].Exit == "" {
				rec.Procs[i].Exit = n.text
			}
		}
	}
}

// removeExits removes the files of notes: once state.json has what they
// said, or their processes are no longer recorded.
func (d *Dir) removeExits(notes []exitNote) {
	for _, n := range notes {
		_ = os.Remove(filepath.Join(d.Path, exitsDir, n.file))
	}
}
