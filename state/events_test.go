package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/windmilleng/pets/events"
)

// writerEnv makes the test binary an event writer (see TestMain):
// "DIR|ID|N" appends N events (N < 0: until killed) with Source "writer ID"
// and Round 1, 2, ... to the state directory DIR, once it has read one byte
// from stdin (the start barrier).
const writerEnv = "PETS_TEST_EVENTS_WRITER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(writerEnv); spec != "" {
		if err := runWriter(spec); err != nil {
			fmt.Fprintln(os.Stderr, "writer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runWriter(spec string) error {
	parts := strings.Split(spec, "|")
	if len(parts) != 3 {
		return fmt.Errorf("bad %s %q", writerEnv, spec)
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil {
		return err
	}
	d := &Dir{Path: parts[0]}
	if _, err := os.Stdin.Read(make([]byte, 1)); err != nil {
		return fmt.Errorf("wait for the start: %w", err)
	}
	for i := 0; n < 0 || i < n; i++ {
		if err := d.AppendEvent(writerEvent(parts[1], i)); err != nil {
			return err
		}
	}
	return nil
}

func writerEvent(id string, i int) events.Event {
	return events.Event{Type: events.ServiceReady, Source: "writer " + id, Round: i + 1, Service: "api-local", Host: "127.0.0.1:8080"}
}

// startWriter starts the test binary as a writer process; it begins when
// the returned func is called.
func startWriter(t *testing.T, dir, id string, n int, env ...string) (cmd *exec.Cmd, start func()) {
	t.Helper()
	cmd = exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), fmt.Sprintf("%s=%s|%s|%d", writerEnv, dir, id, n), "GORACE=atexit_sleep_ms=0"), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, func() { _, _ = in.Write([]byte{1}); in.Close() }
}

func setEventsMax(t *testing.T, n int64) {
	t.Helper()
	prev := eventsMax
	eventsMax = func() int64 { return n }
	t.Cleanup(func() { eventsMax = prev })
}

func openTemp(t *testing.T) *Dir {
	t.Helper()
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// rawLines returns the complete lines of a file and what follows the last
// newline.
func rawLines(t *testing.T, path string) (lines []string, partial string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ""
	}
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndexByte(b, '\n')
	if i < 0 {
		return nil, string(b)
	}
	return strings.Split(string(b[:i]), "\n"), string(b[i+1:])
}

// fixedEvent has a line of the same length for every i < 1e6.
func fixedEvent(i int) events.Event {
	return events.Event{
		Type:    events.ServiceStarting,
		Time:    time.Date(2026, 12, 2, 10, 0, 0, 123456789, time.UTC),
		Service: "api-local",
		Reason:  fmt.Sprintf("event %06d", i),
	}
}

func fixedLineLen(t *testing.T) int64 {
	t.Helper()
	a, _ := json.Marshal(withVersion(fixedEvent(0)))
	b, _ := json.Marshal(withVersion(fixedEvent(999999)))
	if len(a) != len(b) {
		t.Fatalf("fixedEvent lines differ in length: %d, %d", len(a), len(b))
	}
	return int64(len(a)) + 1
}

func withVersion(e events.Event) events.Event {
	e.V = events.Version
	return e
}

func reasons(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Reason
	}
	return out
}

func wantReasons(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("event %06d", i))
	}
	return out
}

func TestAppendEventFillsVersionAndTime(t *testing.T) {
	d := openTemp(t)
	before := time.Now()
	if err := d.AppendEvent(events.Event{Type: events.WatchOverflow, Source: "watch 42"}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	lines, partial := rawLines(t, d.EventsPath())
	if len(lines) != 1 || partial != "" {
		t.Fatalf("want one whole line, got %q + %q", lines, partial)
	}
	var e events.Event
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil {
		t.Fatal(err)
	}
	if e.V != events.Version || e.Type != events.WatchOverflow || e.Source != "watch 42" {
		t.Errorf("got %+v", e)
	}
	if e.Time.Before(before) || e.Time.After(after) {
		t.Errorf("time %v not between %v and %v", e.Time, before, after)
	}
	// Given values are kept.
	given := fixedEvent(7)
	given.V = 9
	if err := d.AppendEvent(given); err != nil {
		t.Fatal(err)
	}
	got, err := d.RecentEvents(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].V != 9 || !got[0].Time.Equal(given.Time) {
		t.Errorf("got %+v, want V 9 and time %v", got, given.Time)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(d.EventsPath())
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("mode %o, want 600", m)
		}
	}
}

func TestRecentEvents(t *testing.T) {
	d := openTemp(t)
	if got, err := d.RecentEvents(5); err != nil || len(got) != 0 {
		t.Fatalf("no file: got %v, %v", got, err)
	}
	for i := range 10 {
		if err := d.AppendEvent(fixedEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		n    int
		want []string
	}{
		{3, wantReasons(7, 10)},
		{10, wantReasons(0, 10)},
		{100, wantReasons(0, 10)},
		{-1, wantReasons(0, 10)},
		{0, nil},
	} {
		got, err := d.RecentEvents(c.n)
		if err != nil {
			t.Fatal(err)
		}
		if g := reasons(got); fmt.Sprint(g) != fmt.Sprint(c.want) {
			t.Errorf("RecentEvents(%d) = %v, want %v", c.n, g, c.want)
		}
	}
}

func TestRecentEventsSkipsBadLines(t *testing.T) {
	d := openTemp(t)
	line := func(i int) string {
		b, _ := json.Marshal(withVersion(fixedEvent(i)))
		return string(b)
	}
	// An unknown field (a newer pets) is ignored, not a reason to skip.
	newer := strings.Replace(line(3), `{"v":1,`, `{"v":1,"fromTheFuture":{"x":[1,2]},`, 1)
	old := line(0) + "\n" +
		"not json\n" +
		line(1) + "\n" +
		`{"v":1,"time":"2026-12-02T10:00:00Z","ty` // a writer killed mid-line, at the end of a generation
	cur := line(2) + "\n" +
		"{}\n" + // not an event: no type
		"\n" +
		`{"v":1,"type":"service.ready","round":"seven"}` + "\n" + // a field of the wrong type
		`{"v":1,"time":"2026-12-02T10:00:00Z","type":"service.re` + "\n" + // a killed writer's line, ended by the next append
		newer + "\n" +
		line(4) + "\n" +
		line(5)[:20] // a writer mid-line
	if err := os.WriteFile(d.eventsOldPath(), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.EventsPath(), []byte(cur), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := d.RecentEvents(-1)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := reasons(got), wantReasons(0, 5); fmt.Sprint(g) != fmt.Sprint(w) {
		t.Errorf("got %v, want %v", g, w)
	}
	got, err = d.RecentEvents(4)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := reasons(got), wantReasons(1, 5); fmt.Sprint(g) != fmt.Sprint(w) {
		t.Errorf("last 4: got %v, want %v", g, w)
	}
}

// An append after a writer was killed mid-line ends that line first, so the
// new one stays whole.
func TestAppendAfterPartialLine(t *testing.T) {
	d := openTemp(t)
	if err := d.AppendEvent(fixedEvent(0)); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(d.EventsPath(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"v":1,"type":"service.rea`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := d.AppendEvent(fixedEvent(1)); err != nil {
		t.Fatal(err)
	}
	lines, partial := rawLines(t, d.EventsPath())
	if len(lines) != 3 || partial != "" || lines[1] != `{"v":1,"type":"service.rea` {
		t.Fatalf("got lines %q + %q", lines, partial)
	}
	got, err := d.RecentEvents(-1)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := reasons(got), wantReasons(0, 2); fmt.Sprint(g) != fmt.Sprint(w) {
		t.Errorf("got %v, want %v", g, w)
	}
}

func TestRotation(t *testing.T) {
	d := openTemp(t)
	l := fixedLineLen(t)
	setEventsMax(t, 5*l) // five lines a generation
	for i := range 23 {
		if err := d.AppendEvent(fixedEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	// 23 = 5+5+5+5+3: the newest generation holds 20..22, the one before 15..19.
	for path, want := range map[string][]string{d.eventsOldPath(): wantReasons(15, 20), d.EventsPath(): wantReasons(20, 23)} {
		lines, partial := rawLines(t, path)
		var got []string
		for _, ln := range lines {
			var e events.Event
			if err := json.Unmarshal([]byte(ln), &e); err != nil {
				t.Fatalf("%s: %q: %v", path, ln, err)
			}
			got = append(got, e.Reason)
		}
		if partial != "" || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s holds %v + %q, want %v", filepath.Base(path), got, partial, want)
		}
	}
	for n, want := range map[int][]string{2: wantReasons(21, 23), 6: wantReasons(17, 23), 100: wantReasons(15, 23)} {
		got, err := d.RecentEvents(n)
		if err != nil {
			t.Fatal(err)
		}
		if g := reasons(got); fmt.Sprint(g) != fmt.Sprint(want) {
			t.Errorf("RecentEvents(%d) = %v, want %v", n, g, want)
		}
	}
}

// Lines longer than the read chunk are read whole, backwards and forwards.
func TestLongLines(t *testing.T) {
	d := openTemp(t)
	long := func(i int) events.Event {
		e := fixedEvent(i)
		e.Error = strings.Repeat("x", eventsChunk*2+i*1000)
		return e
	}
	for i := range 3 {
		if err := d.AppendEvent(long(i)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.RecentEvents(2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Reason != "event 000001" || got[1].Reason != "event 000002" || got[1].Error != long(2).Error {
		t.Fatalf("got %d events %v", len(got), reasons(got))
	}
	f, err := os.Open(d.EventsPath())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n int
	off, err := readLines(f, 0, func(line []byte) error {
		var e events.Event
		if err := json.Unmarshal(line, &e); err != nil || e.Error != long(n).Error {
			t.Errorf("line %d: %.40q...: %v", n, line, err)
		}
		n++
		return nil
	})
	fi, _ := f.Stat()
	if err != nil || n != 3 || off != fi.Size() {
		t.Errorf("readLines: %d lines, offset %d of %d, %v", n, off, fi.Size(), err)
	}
}

// readLines leaves a partial line for the next look, when it is whole.
func TestReadLinesWaitsForNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	collect := func(l []byte) error { got = append(got, string(l)); return nil }
	off := int64(0)
	for _, step := range []struct {
		write string
		want  []string
	}{
		{"one\ntw", []string{"one"}},
		{"o", []string{"one"}},
		{"\nthree\n", []string{"one", "two", "three"}},
		{"", []string{"one", "two", "three"}},
	} {
		if _, err := f.WriteString(step.write); err != nil {
			t.Fatal(err)
		}
		if off, err = readLines(f, off, collect); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(step.want) {
			t.Fatalf("after %q: got %q, want %q", step.write, got, step.want)
		}
	}
}

// seen is what one writer left in the files.
type seen struct {
	rounds []int // in file order
}

// checkFiles parses every line of the two generations (failing on any line
// that does not parse: a split or interleaved line) and returns, by
// writer, the rounds found, in file order.
func checkFiles(t *testing.T, d *Dir, max int64) map[string]*seen {
	t.Helper()
	out := map[string]*seen{}
	for _, path := range []string{d.eventsOldPath(), d.EventsPath()} {
		lines, partial := rawLines(t, path)
		if partial != "" {
			t.Errorf("%s ends with a partial line %q", filepath.Base(path), partial)
		}
		var size int64
		for _, ln := range lines {
			size += int64(len(ln)) + 1
			var e events.Event
			if err := json.Unmarshal([]byte(ln), &e); err != nil || e.Type != events.ServiceReady || e.V != events.Version {
				t.Errorf("%s: bad line %q: %v", filepath.Base(path), ln, err)
				continue
			}
			if out[e.Source] == nil {
				out[e.Source] = &seen{}
			}
			out[e.Source].rounds = append(out[e.Source].rounds, e.Round)
		}
		if size > max {
			t.Errorf("%s holds %d bytes, over the cap of %d", filepath.Base(path), size, max)
		}
	}
	return out
}

// writeConcurrently has goroutines and processes append each bytes each
// events, all starting together, with the cap max; it returns the writer
// names.
func writeConcurrently(t *testing.T, d *Dir, goroutines, procs, each int, max int64) []string {
	t.Helper()
	setEventsMax(t, max)
	var (
		names  []string
		starts []func()
		cmds   []*exec.Cmd
	)
	for p := range procs {
		id := fmt.Sprintf("p%d", p)
		cmd, start := startWriter(t, d.Path, id, each, fmt.Sprintf("PETS_EVENTS_MAX=%d", max))
		cmds, starts, names = append(cmds, cmd), append(starts, start), append(names, "writer "+id)
	}
	begin := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		id := fmt.Sprintf("g%d", g)
		names = append(names, "writer "+id)
		wg.Go(func() {
			<-begin
			for i := range each {
				if err := d.AppendEvent(writerEvent(id, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for _, s := range starts {
		s()
	}
	close(begin)
	wg.Wait()
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("writer process: %v", err)
		}
	}
	return names
}

// With a cap that lets exactly one rotation happen, every line written is
// in the two files, whole, once, in each writer's order.
func TestConcurrentAppendsLoseNothing(t *testing.T) {
	d := openTemp(t)
	const goroutines, procs, each = 4, 3, 150
	sample := writerEvent("g0", each)
	sample.V, sample.Time = events.Version, time.Now()
	line, _ := json.Marshal(sample)
	total := int64((goroutines + procs) * each * (len(line) + 1))
	// The first generation fills to 6/10 of the total, so the rest cannot
	// fill a second one.
	max := total * 6 / 10
	names := writeConcurrently(t, d, goroutines, procs, each, max)
	if _, err := os.Stat(d.eventsOldPath()); err != nil {
		t.Fatalf("no rotation happened (cap %d): %v", max, err)
	}
	got := checkFiles(t, d, max)
	for _, n := range names {
		var rounds []int
		if s := got[n]; s != nil {
			rounds = s.rounds
		}
		if len(rounds) != each {
			t.Errorf("%s: %d events in the files, wrote %d", n, len(rounds), each)
			continue
		}
		for i, r := range rounds {
			if r != i+1 {
				t.Errorf("%s: event %d is round %d, want %d", n, i, r, i+1)
				break
			}
		}
	}
}

// With a tiny cap, rotation happens many times: every line left is whole,
// no file passes the cap, and what rotation dropped is exactly each
// writer's oldest events: each writer's events still there are its last
// ones, without a gap (a writer's later events go to the same or a newer
// generation, and only the two newest are kept).
func TestConcurrentAppendsRotateManyTimes(t *testing.T) {
	d := openTemp(t)
	const goroutines, procs, each = 4, 3, 150
	sample, _ := json.Marshal(withVersion(writerEvent("g0", each)))
	max := int64(12 * (len(sample) + 40))
	names := writeConcurrently(t, d, goroutines, procs, each, max)
	got := checkFiles(t, d, max)
	kept := 0
	for _, n := range names {
		s := got[n]
		if s == nil {
			continue // all of its events were rotated away
		}
		kept += len(s.rounds)
		first := each - len(s.rounds) + 1
		for i, r := range s.rounds {
			if r != first+i {
				t.Errorf("%s kept rounds %v, want %d..%d", n, s.rounds, first, each)
				break
			}
		}
	}
	if kept == 0 || kept >= (goroutines+procs)*each {
		t.Errorf("kept %d of %d events: did rotation happen?", kept, (goroutines+procs)*each)
	}
}

// PETS_EVENTS_MAX sets the cap of a pets process.
func TestEventsMaxFromEnvironment(t *testing.T) {
	d := openTemp(t)
	cmd, start := startWriter(t, d.Path, "p", 3, "PETS_EVENTS_MAX=1")
	start()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	for path, round := range map[string]int{d.eventsOldPath(): 2, d.EventsPath(): 3} {
		lines, _ := rawLines(t, path)
		var e events.Event
		if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &e) != nil || e.Round != round {
			t.Errorf("%s: %q, want round %d alone", filepath.Base(path), lines, round)
		}
	}
}

// follower runs FollowEvents and hands each event over on a channel.
type follower struct {
	ch   chan events.Event
	done chan error
}

func follow(t *testing.T, d *Dir, from int) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{ch: make(chan events.Event), done: make(chan error, 1)}
	go func() {
		f.done <- d.FollowEvents(ctx, from, func(e events.Event) error {
			select {
			case f.ch <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-f.done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("FollowEvents: %v", err)
		}
	})
	return f
}

func (f *follower) next(t *testing.T) events.Event {
	t.Helper()
	select {
	case e := <-f.ch:
		return e
	case err := <-f.done:
		t.Fatalf("FollowEvents ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for an event")
	}
	return events.Event{}
}

func (f *follower) expect(t *testing.T, want []string) {
	t.Helper()
	for _, w := range want {
		if e := f.next(t); e.Reason != w {
			t.Fatalf("followed %q, want %q", e.Reason, w)
		}
	}
}

// A follower sees every event appended after it started, in order, across
// rotations, however far behind it is: here it reads one event at a time
// while the writer runs ahead by up to two generations.
func TestFollowEventsAcrossRotations(t *testing.T) {
	d := openTemp(t)
	setEventsMax(t, 5*fixedLineLen(t))
	for i := range 7 { // 0..4 in events.1.jsonl, 5 and 6 in events.jsonl
		if err := d.AppendEvent(fixedEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	f := follow(t, d, 3)
	f.expect(t, wantReasons(4, 7)) // the last three, across both files
	// In lockstep: each event seen before the next is written; rotations
	// at 10, 15 and 20.
	for i := 7; i < 22; i++ {
		if err := d.AppendEvent(fixedEvent(i)); err != nil {
			t.Fatal(err)
		}
		f.expect(t, wantReasons(i, i+1))
	}
	// In bursts written before the follower hands over the first: 22..24
	// fill the generation 20.. (no rotation), 25..30 rotate at 25 and 30,
	// 31..39 at 35, and 40..49 twice, at 40 and 45: a follower still at
	// 35..39 then reads 40..44 from events.1.jsonl.
	next := 22
	for _, burst := range []int{3, 6, 9, 10} {
		for i := next; i < next+burst; i++ {
			if err := d.AppendEvent(fixedEvent(i)); err != nil {
				t.Fatal(err)
			}
		}
		f.expect(t, wantReasons(next, next+burst))
		next += burst
	}
}

// A follower wakes on the append itself (fsnotify), not on the poll, and
// starts fine when there is no file yet.
func TestFollowEventsWakesOnAppend(t *testing.T) {
	d := openTemp(t)
	prev := eventsPoll
	eventsPoll = time.Hour
	t.Cleanup(func() { eventsPoll = prev })
	f := follow(t, d, 10)
	// The follower is running once it has seen the first event; it must
	// see each next one without a poll.
	for i := range 5 {
		if err := d.AppendEvent(fixedEvent(i)); err != nil {
			t.Fatal(err)
		}
		f.expect(t, wantReasons(i, i+1))
	}
}

// Events from several writers reach a follower whole, each writer's in its
// order, across two rotations (the most a follower may fall behind: the
// writers here do not wait for it).
func TestFollowEventsConcurrentWriters(t *testing.T) {
	d := openTemp(t)
	const writers, each = 4, 100
	sample := writerEvent("0", each)
	sample.V, sample.Time = events.Version, time.Now()
	line, _ := json.Marshal(sample)
	total := int64(writers * each * (len(line) + 1))
	// The writers' events are 1.5 caps; with events.jsonl 0.7 full before
	// they start, they rotate it twice (after 0.3 and 1.3 caps); a third
	// rotation would take 2.3.
	max := total * 2 / 3
	setEventsMax(t, max)
	prefilled := int(max * 7 / 10 / fixedLineLen(t))
	for i := range prefilled {
		if err := d.AppendEvent(fixedEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	f := follow(t, d, 1)
	// The follower first hands over the last event there when it started:
	// the last one prefilled (then this one), or this one.
	if err := d.AppendEvent(fixedEvent(999999)); err != nil {
		t.Fatal(err)
	}
	switch e := f.next(t); e.Reason {
	case "event 999999":
	case fmt.Sprintf("event %06d", prefilled-1):
		f.expect(t, wantReasons(999999, 1000000))
	default:
		t.Fatalf("followed %q first", e.Reason)
	}
	before, err := os.Stat(d.EventsPath())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := d.AppendEvent(writerEvent(strconv.Itoa(w), i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	last := map[string]int{}
	for range writers * each {
		e := f.next(t)
		if e.Round != last[e.Source]+1 {
			t.Fatalf("%s: round %d after %d", e.Source, e.Round, last[e.Source])
		}
		last[e.Source] = e.Round
	}
	wg.Wait()
	if after, err := os.Stat(d.EventsPath()); err != nil || os.SameFile(before, after) {
		t.Errorf("no rotation happened: %v", err)
	}
}

// A writer killed with SIGKILL while it appends leaves whole lines only
// (or, at worst, one partial line that the next append ends), and the next
// append is whole.
func TestKilledWriterLeavesWholeLines(t *testing.T) {
	d := openTemp(t)
	f := follow(t, d, 0)
	cmd, start := startWriter(t, d.Path, "k", -1, "PETS_EVENTS_MAX=4096")
	start()
	for range 200 { // mid-stream: it has written 200 and goes on
		if e := f.next(t); e.Source != "writer k" {
			t.Fatalf("followed %+v", e)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if err := d.AppendEvent(fixedEvent(0)); err != nil {
		t.Fatal(err)
	}
	var killedMidLine int
	for _, path := range []string{d.eventsOldPath(), d.EventsPath()} {
		lines, partial := rawLines(t, path)
		if partial != "" {
			t.Errorf("%s ends with a partial line %q", filepath.Base(path), partial)
		}
		for i, ln := range lines {
			var e events.Event
			if err := json.Unmarshal([]byte(ln), &e); err != nil {
				// Only the line the writer was killed in, ended by the
				// next append, just before the last line.
				if killedMidLine++; path != d.EventsPath() || i != len(lines)-2 {
					t.Errorf("%s: line %d of %d does not parse: %q", filepath.Base(path), i, len(lines), ln)
				}
			}
		}
	}
	got, err := d.RecentEvents(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Reason != "event 000000" {
		t.Errorf("last event %+v, want the one appended after the kill", got)
	}
	t.Logf("killed mid-line: %d", killedMidLine)
}

// FollowEvents returns nil when its context ends, and fn's error as it is.
func TestFollowEventsEnds(t *testing.T) {
	d := openTemp(t)
	if err := d.AppendEvent(fixedEvent(0)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	seen := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- d.FollowEvents(ctx, 1, func(events.Event) error { close(seen); return nil })
	}()
	<-seen
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("FollowEvents returned %v when its context ended, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("FollowEvents did not end with its context")
	}

	stop := errors.New("enough")
	err := d.FollowEvents(context.Background(), 1, func(events.Event) error { return stop })
	if err != stop {
		t.Errorf("FollowEvents returned %v, want fn's error", err)
	}
}
