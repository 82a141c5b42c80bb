// Command backend is the example backend: it answers on localhost:8080.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from the backend")
	})
	log.Printf("backend (pid %d) listening on localhost:8080", os.Getpid())
	log.Fatal(http.ListenAndServe("localhost:8080", nil))
}
