package state

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// A waiter whose context ends gives up, and the lock it was waiting for is
// given back as soon as it comes: the next taker gets it.
func TestLockFileWaitEndsWithItsContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := lockFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if u, err := lockFile(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		if u != nil {
			u()
		}
		t.Fatalf("lock while held: %v; want the deadline", err)
	}
	// A waiter with no deadline gets it once the holder lets go.
	got := make(chan func(), 1)
	go func() {
		u, err := lockFile(context.Background(), path)
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	select {
	case <-got:
		t.Fatal("took a held lock")
	case <-time.After(20 * time.Millisecond): // nothing to wait for: it must not come
	}
	unlock()
	u := <-got
	if u == nil {
		t.FailNow()
	}
	u()
	// The abandoned wait has handed its turn back too: the lock is free.
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err = lockFile(ctx, path)
	if err != nil {
		t.Fatalf("after every holder let go: %v", err)
	}
	u()
}
