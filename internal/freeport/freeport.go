// Package freeport hands out TCP ports on 127.0.0.1 that nothing listens
// on, for the tests' and the bench's servers.
package freeport

import (
	"net"
	"sync"
)

// given are the ports Get has returned.
var given = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// Get returns a port on 127.0.0.1 that nothing listens on right now, and
// never the same one twice in one process: the kernel may hand a port that
// was just closed out again, and two servers of one test (or 50 services
// of one bench Petsfile) were once given the same one.
func Get() (int, error) {
	given.Lock()
	defer given.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !given.ports[port] {
			given.ports[port] = true
			return port, nil
		}
	}
}
