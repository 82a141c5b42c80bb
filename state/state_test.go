package state

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 25
	var wg sync.WaitGroup
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	go func() { // a reader that must never see a torn file
		for {
			select {
			case <-stop:
				readErr <- nil
				return
			default:
			}
			if _, err := d.Read(); err != nil {
				readErr <- err
				return
			}
		}
	}()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				name := fmt.Sprintf("svc%d-%d", w, i)
				err := d.Update(func(f *File) error {
					f.Services[name] = &Service{Name: name, Tier: "local", Status: Ready}
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-readErr; err != nil {
		t.Fatalf("concurrent read: %v", err)
	}
	f, err := d.Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Services) != writers*each {
		t.Fatalf("%d services recorded, want %d", len(f.Services), writers*each)
	}
}

func TestUpdateErrorWritesNothing(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_ = d.Update(func(f *File) error { f.Services["a"] = &Service{Name: "a"}; return nil })
	err = d.Update(func(f *File) error {
		f.Services["b"] = &Service{Name: "b"}
		return fmt.Errorf("no")
	})
	if err == nil {
		t.Fatal("Update swallowed fn's error")
	}
	f, _ := d.Read()
	if _, ok := f.Services["b"]; ok || len(f.Services) != 1 {
		t.Fatalf("services after a failed update: %v", f.Services)
	}
}

func TestLockUpQueues(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := d.LockUp(context.Background(), func() { t.Error("first LockUp waited") })
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	got := make(chan func(), 1)
	go func() {
		u, err := d.LockUp(context.Background(), func() { close(waited) })
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	<-waited // the second caller is told it waits
	select {
	case <-got:
		t.Fatal("second LockUp returned while the first held the lock")
	default:
	}
	unlock()
	select {
	case u := <-got:
		u()
	case <-time.After(10 * time.Second):
		t.Fatal("second LockUp did not get the lock after it was released")
	}
	ctx, cancel := context.WithCancel(context.Background())
	unlock, _ = d.LockUp(context.Background(), nil)
	defer unlock()
	cancel()
	if _, err := d.LockUp(ctx, nil); err == nil {
		t.Fatal("LockUp with a cancelled context succeeded while the lock was held")
	}
}

// TestWritesLeaveOnlyTheRecord: each write's temporary file ends as the
// record or is removed (on Linux it ends holding the old version, which
// must not be left behind).
func TestWritesLeaveOnlyTheRecord(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		name := fmt.Sprintf("svc%d", i)
		if err := d.Update(func(f *File) error { f.Services[name] = &Service{Name: name}; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	left, err := filepath.Glob(filepath.Join(dir, "state-*.json"))
	if err != nil || len(left) != 0 {
		t.Fatalf("temporary files left beside the record: %v (%v)", left, err)
	}
	f, err := d.Read()
	if err != nil || len(f.Services) != 20 {
		t.Fatalf("the record holds %d services (%v); want 20", len(f.Services), err)
	}
}

// TestRemovedRecordIsKept: the directory removed under a process that had
// services recorded in it, that process still reads them (and says so
// once), and its next update makes the directory again and writes them
// back with its change.
// A write that fails (its rename into state.json's place, the directory
// gone) leaves state.json as it was, and so leaves what
// this process last knew of it: once state.json is gone, a read still
// returns that record. Forgetting it on the failure (as this did) made the
// record empty, and pets up --watch, told to stop what it had started,
// stopped nothing (TestStateRemovedUnderWatch, once in CI).
func TestFailedWriteKeepsTheLastKnownRecord(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	said := 0
	d.Removed = func() { said++ }
	if err := d.Update(func(f *File) error { f.Services["a"] = &Service{Name: "a", Tier: "local"}; return nil }); err != nil {
		t.Fatal(err)
	}
	// The directory goes after the write's temporary file was made, before
	// it is renamed into place: rm -rf while pets writes.
	beforeReplace = func() { _ = os.RemoveAll(dir) }
	defer func() { beforeReplace = nil }()
	err = d.Update(func(f *File) error { f.Services["b"] = &Service{Name: "b", Tier: "local"}; return nil })
	beforeReplace = nil
	if err == nil {
		t.Fatal("an update whose directory went before its rename succeeded")
	}
	f, err := d.Read()
	if err != nil || f.Services["a"] == nil || said != 1 {
		t.Fatalf("after a failed write and the record's removal: %v (%v), Removed said %d times; want a, said once", f, err, said)
	}
	if f.Services["b"] != nil {
		t.Errorf("the failed write's b is recorded: %v", f)
	}
}

func TestRemovedRecordIsKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	said := 0
	d.Removed = func() { said++ }
	if err := d.Update(func(f *File) error { f.Services["a"] = &Service{Name: "a", Tier: "local"}; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if f, err := d.Read(); err != nil || f.Services["a"] == nil {
			t.Fatalf("after the removal: %v (%v); want a, as this process recorded it", f, err)
		}
	}
	if said != 1 {
		t.Errorf("Removed called %d times over two reads; want once", said)
	}
	if err := d.Update(func(f *File) error { f.Services["b"] = &Service{Name: "b", Tier: "local"}; return nil }); err != nil {
		t.Fatalf("update after the removal: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f File
	if err := json.Unmarshal(data, &f); err != nil || f.Services["a"] == nil || f.Services["b"] == nil {
		t.Fatalf("the record written back: %s (%v); want a and b", data, err)
	}
	// Removed again: said again.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read(); err != nil || said != 2 {
		t.Errorf("a second removal: said %d times (%v); want 2", said, err)
	}
}

// TestEmptyRecordNamesNothing: a record a crash of the machine emptied
// (or filled with zeros) reads as naming nothing, and the next write
// works; one that holds anything else still fails to read, with advice.
func TestEmptyRecordNamesNothing(t *testing.T) {
	for _, body := range []string{"", "\x00\x00\x00\x00"} {
		dir := t.TempDir()
		d, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Update(func(f *File) error { f.Services["a"] = &Service{Name: "a"}; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := d.Read()
		if err != nil || len(f.Services) != 0 {
			t.Fatalf("a record of %q read as %v (%v); want nothing named", body, f, err)
		}
		if err := d.Update(func(f *File) error { f.Services["b"] = &Service{Name: "b"}; return nil }); err != nil {
			t.Fatal(err)
		}
		if f, err := d.Read(); err != nil || len(f.Services) != 1 || f.Services["b"] == nil {
			t.Fatalf("after a write: %v (%v); want b alone", f, err)
		}
	}
	dir := t.TempDir()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte("{\"services\": {"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read(); err == nil || !strings.Contains(err.Error(), "move it away") {
		t.Fatalf("a torn record read with %v; want an error with advice", err)
	}
}
