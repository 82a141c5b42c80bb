//go:build !windows

package state

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func tryLockFile(path string) (func(), error) {
	fd, err := openLock(path)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return func() { _ = unix.Flock(fd, unix.LOCK_UN); unix.Close(fd) }, nil
}

// openLock opens (creating) the lock file path as a plain descriptor: an
// *os.File costs a lock three more system calls (the poller's, and Fd's
// to make it blocking again), and a lock is taken at every write of the
// record and every event.
func openLock(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o644)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

// lockFile takes an exclusive flock on path, waiting until ctx ends. The
// wait is the kernel's (a blocking flock on a goroutine of its own), not a
// poll: under contention, as when many services start at once and each
// records itself, the lock passes at once to the next waiter.
func lockFile(ctx context.Context, path string) (func(), error) {
	fd, err := openLock(path)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	unlock := func() { _ = unix.Flock(fd, unix.LOCK_UN); unix.Close(fd) }
	err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
	if err == nil {
		return unlock, nil
	}
	if !errors.Is(err, unix.EWOULDBLOCK) {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	got := make(chan error, 1)
	go func() { // ends once the lock is taken (or fails); handed off below if ctx ends first
		for {
			err := unix.Flock(fd, unix.LOCK_EX)
			if !errors.Is(err, unix.EINTR) {
				got <- err
				return
			}
		}
	}()
	select {
	case err := <-got:
		if err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		return unlock, nil
	case <-ctx.Done():
		go func() { // gives the lock back as soon as it comes
			if <-got == nil {
				unlock()
			} else {
				unix.Close(fd)
			}
		}()
		return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
	}
}
