// Command frontend is the example frontend: it answers on localhost:8081 with
// what the backend (--backend=host:port) says.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
)

func main() {
	backend := flag.String("backend", "localhost:8080", "host:port of the backend")
	flag.Parse()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get("http://" + *backend + "/")
		if err != nil {
			http.Error(w, "backend unreachable: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Fprintf(w, "frontend here; the backend at %s says: %s", *backend, body)
	})
	log.Printf("frontend (pid %d) listening on localhost:8081, backend %s", os.Getpid(), *backend)
	log.Fatal(http.ListenAndServe("localhost:8081", nil))
}
