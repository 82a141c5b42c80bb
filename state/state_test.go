package state

import (
	"context"
	"fmt"
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
