package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// announceVar names the unix datagram socket a petserver tells "PORT PID"
// once it listens (examples/petserver). The bench sets it in its own
// environment, so that every server it starts, through pets or not,
// announces itself: the restart figures wait for that, then ask the new
// server once, where they used to ask the port every 200 µs (a request
// that took a core of the two they measure on).
const announceVar = "PETSERVER_ANNOUNCE"

type announcement struct{ port, pid int }

// announcer receives the announcements.
type announcer struct {
	conn *net.UnixConn
	c    chan announcement
}

func listenAnnounce(dir string) (*announcer, error) {
	path := filepath.Join(dir, "announce.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	a := &announcer{conn: conn, c: make(chan announcement, 4096)}
	go a.read()
	if err := os.Setenv(announceVar, path); err != nil {
		conn.Close()
		return nil, err
	}
	return a, nil
}

func (a *announcer) read() {
	buf := make([]byte, 64)
	for {
		n, err := a.conn.Read(buf)
		if err != nil {
			close(a.c)
			return
		}
		var an announcement
		if _, err := fmt.Sscanf(string(buf[:n]), "%d %d", &an.port, &an.pid); err != nil {
			continue
		}
		for sent := false; !sent; { // full: the oldest goes, no server waits
			select {
			case a.c <- an:
				sent = true
			default:
				select {
				case <-a.c:
				default:
				}
			}
		}
	}
}

func (a *announcer) close() {
	os.Unsetenv(announceVar)
	a.conn.Close()
}

// server waits until a server listening on port, other than pid not,
// announces itself, then asks it its pid (one request, as a client would
// make one) and returns that pid: a new server answering. Announcements
// of other ports, and older ones of this port, are passed over.
func (a *announcer) server(port, not int, timeout time.Duration) (int, error) {
	return a.serverUnless(port, not, timeout, nil)
}

// errNoServer: no new server announced itself in time.
var errNoServer = errors.New("no new server")

// serverUnless is server, but fails with errGone as soon as gone (may be
// nil) is closed, and with errNoServer (wrapped) on the timeout.
func (a *announcer) serverUnless(port, not int, timeout time.Duration, gone <-chan struct{}) (int, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case <-gone:
			return 0, errGone
		case an, ok := <-a.c:
			if !ok {
				return 0, fmt.Errorf("announcements closed")
			}
			if an.port != port || an.pid == not {
				continue
			}
			pid, err := pidOf(port)
			if err != nil {
				return 0, fmt.Errorf("the server that announced itself on port %d (pid %d) does not answer: %w", port, an.pid, err)
			}
			if pid != an.pid {
				continue // replaced already: wait for the next one's announcement
			}
			return pid, nil
		case <-deadline.C:
			return 0, fmt.Errorf("%w on port %d within %s", errNoServer, port, timeout)
		}
	}
}

// errGone: what the caller waited on ended before a server announced itself.
var errGone = errors.New("gone")

// drain passes over the announcements received so far.
func (a *announcer) drain() {
	for {
		select {
		case <-a.c:
		default:
			return
		}
	}
}

// more counts the servers that announce themselves on port, until none
// has for quiet (the restarts that follow the one a save was waiting for).
func (a *announcer) more(port int, quiet time.Duration) int {
	n := 0
	t := time.NewTimer(quiet)
	defer t.Stop()
	for {
		select {
		case an, ok := <-a.c:
			if !ok {
				return n
			}
			if an.port == port {
				n++
				t.Reset(quiet)
			}
		case <-t.C:
			return n
		}
	}
}
