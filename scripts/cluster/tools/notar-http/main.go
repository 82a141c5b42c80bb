// Command notar-http is the only file of the test cluster's "no tar, no shell"
// image: a static HTTP server used to test the sync fallback (exec of tar fails).
// It serves -dir on -addr and answers /healthz with "ok".
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	dir := flag.String("dir", "/www", "directory to serve")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.Handle("/", http.FileServer(http.Dir(*dir)))
	srv := &http.Server{Addr: *addr, Handler: mux}

	go func() {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		<-sigs
		srv.Close()
	}()
	log.Printf("notar-http serving %s on %s", *dir, *addr)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
