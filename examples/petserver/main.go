// Command petserver is a tiny HTTP server for the examples and tests: it
// answers with its name and what each of its dependencies answers.
//
//	petserver --name api --port 8091 --dep store=localhost:8092
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type deps []string

func (d *deps) String() string     { return strings.Join(*d, ",") }
func (d *deps) Set(v string) error { *d = append(*d, v); return nil }

func main() {
	var ds deps
	name := flag.String("name", "petserver", "name to answer with")
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 8090, "port to listen on")
	ignoreTerm := flag.Bool("ignore-term", false, "ignore SIGTERM (to test pets' SIGKILL after the grace period)")
	flag.Var(&ds, "dep", "name=host:port of a dependency (repeatable)")
	flag.Parse()
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s (pid %d)", *name, os.Getpid())
		for _, d := range ds {
			n, addr, _ := strings.Cut(d, "=")
			resp, err := http.Get("http://" + addr + "/")
			if err != nil {
				fmt.Fprintf(w, "; %s: unreachable (%v)", n, err)
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			fmt.Fprintf(w, "; %s -> [%s]", n, strings.TrimSpace(string(body)))
		}
		fmt.Fprintln(w)
	})
	// /pid answers the name and pid alone, without asking the dependencies.
	http.HandleFunc("/pid", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s (pid %d)\n", *name, os.Getpid())
	})
	addr := fmt.Sprintf("%s:%d", *host, *port)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("%s (pid %d) listening on %s, deps %v", *name, os.Getpid(), addr, ds)
	if path := os.Getenv("PETSERVER_ANNOUNCE"); path != "" {
		announce(path, *port)
	}
	log.Fatal(http.Serve(ln, nil))
}

// announce tells whoever listens on the unix datagram socket at path
// "PORT PID" once the server listens: make bench learns of a new server
// that way instead of asking the port again and again, which took a core
// of the two it measures on.
func announce(path string, port int) {
	c, err := net.Dial("unixgram", path)
	if err != nil {
		log.Printf("announce: %v", err)
		return
	}
	defer c.Close()
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond)) // never held up by a listener that does not read
	if _, err := fmt.Fprintf(c, "%d %d", port, os.Getpid()); err != nil {
		log.Printf("announce: %v", err)
	}
}
