package freeport

import (
	"net"
	"strconv"
	"testing"
)

// Get's ports can be listened on, and none comes twice, though the kernel
// is asked for a new one each time (and may repeat itself).
func TestGetNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 2000 {
		port, err := Get()
		if err != nil {
			t.Fatal(err)
		}
		if seen[port] {
			t.Fatalf("port %d handed out twice", port)
		}
		seen[port] = true
	}
	port, err := Get()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("port %d is not free: %v", port, err)
	}
	ln.Close()
}
