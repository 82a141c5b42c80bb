// Command backend is the local tier of the k8s example's backend: it serves
// ./static on localhost:8080, as the Kubernetes tier's httpd serves /www.
package main

import (
	"log"
	"net/http"
	"os"
)

func main() {
	log.Printf("backend (pid %d) serving ./static on localhost:8080", os.Getpid())
	log.Fatal(http.ListenAndServe("localhost:8080", http.FileServer(http.Dir("static"))))
}
