// Command backend is the k8s example's backend: it serves its static files
// over HTTP. The local tier runs it with go run (./static on
// localhost:8080); the Kubernetes tier builds it for Linux on your machine
// and pets syncs the binary into the pod, where it runs under pets-restart
// as /app/bin/backend -addr :8080 -static /app/static.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	static := flag.String("static", "static", "directory of the files to serve")
	flag.Parse()
	log.Printf("backend (pid %d) serving %s on %s", os.Getpid(), *static, *addr)
	log.Fatal(http.ListenAndServe(*addr, http.FileServer(http.Dir(*static))))
}
