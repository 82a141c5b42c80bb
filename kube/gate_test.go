package kube

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
)

// TestGateShutStopsLateWriters: what Exec does with the caller's writers.
// Writers still copying after the gate is shut (client-go's stream copiers
// once StreamWithContext has returned) never touch the buffer again, so the
// caller may read it (-race checks that), and they are told to stop.
func TestGateShutStopsLateWriters(t *testing.T) {
	var buf bytes.Buffer
	g := &gate{w: &buf}
	var wg sync.WaitGroup
	started := make(chan struct{})
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 0 {
				close(started)
			}
			for range 10_000_000 {
				if _, err := g.Write([]byte("x")); err != nil {
					if !errors.Is(err, io.ErrClosedPipe) {
						t.Errorf("a write after shut: %v, want io.ErrClosedPipe", err)
					}
					return
				}
			}
			t.Errorf("a writer was never refused")
		}()
	}
	<-started
	g.shut()
	n := buf.Len() // no writer touches buf any more
	if _, err := g.Write([]byte("late")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("write after shut: %v", err)
	}
	wg.Wait()
	if buf.Len() != n || bytes.Contains(buf.Bytes(), []byte("late")) {
		t.Errorf("the buffer changed after shut: %d bytes, then %d", n, buf.Len())
	}
}
