package kube

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport/websocket"
)

// TestTunnelDialGivesUp: an API server that takes the connection and never
// answers the upgrade (a real socket that reads and says nothing) holds a
// dial no longer than dialTimeout, and not at all once the forwarder has
// closed.
func TestTunnelDialGivesUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // owned by the test: ends when ln is closed
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // reads until the dialer gives up and closes
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	transport, holder, err := websocket.RoundTripperFor(&rest.Config{Host: "http://" + ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://" + ln.Addr().String() + "/api/v1/namespaces/ns/pods/p/portforward")
	defer func(d time.Duration) { dialTimeout = d }(dialTimeout)
	dialTimeout = 300 * time.Millisecond

	d := &tunnelDialer{ctx: context.Background(), url: u, transport: transport, holder: holder}
	done := make(chan error, 1)
	go func() { _, _, err := d.Dial("portforward.k8s.io"); done <- err }() // ends by the select below, or the test fails
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no answer to the upgrade within") {
			t.Errorf("Dial to a server that never answers: %v; want it given up on", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Dial still waiting 10 s into a dialTimeout of %v", dialTimeout)
	}

	// The forwarder closed before the dial began: it fails at once.
	dialTimeout = time.Hour
	closed, cancel := context.WithCancel(context.Background())
	cancel()
	d.ctx = closed
	go func() { _, _, err := d.Dial("portforward.k8s.io"); done <- err }() // ends by the select below, or the test fails
	select {
	case err := <-done:
		if err == nil {
			t.Error("Dial after the forwarder closed: no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Dial after the forwarder closed still waiting 10 s later")
	}
}
