// Command receiver is a stand-in for the ESR job-plan API, for `make
// demo-hub` and manual testing. It accepts POSTed records, honours the
// Idempotency-Key header (a key it has accepted before gets 409 Conflict,
// as the hub expects of ESR) and answers GET /count with what it holds:
//
//	{"records": 7, "requests": 9, "duplicates": 2}
//
// It listens on -addr (port 0 picks a free one) and writes the address it
// got to -addr-file, so a script can find it. SIGINT or SIGTERM stops it.
// `receiver -count ADDRESS` prints a running receiver's counts.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8089", "listen `address`")
	addrFile := flag.String("addr-file", "", "write the listen address to `FILE`")
	token := flag.String("token", "", "require this bearer `TOKEN`")
	count := flag.String("count", "", "instead of serving, print the counts of the receiver at `ADDRESS`")
	flag.Parse()
	if *count != "" {
		if err := printCount(*count); err != nil {
			log.Fatal("receiver: ", err)
		}
		return
	}
	if err := run(*addr, *addrFile, *token); err != nil {
		log.Fatal("receiver: ", err)
	}
}

// printCount prints what a running receiver holds.
func printCount(addr string) error {
	resp, err := http.Get("http://" + addr + "/count")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(os.Stdout, resp.Body)
	return err
}

type store struct {
	mu         sync.Mutex
	records    map[string][]byte
	requests   int
	duplicates int
}

func run(addr, addrFile, token string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if addrFile != "" {
		if err := os.WriteFile(addrFile, []byte(ln.Addr().String()), 0o644); err != nil {
			return err
		}
	}
	s := &store{records: map[string][]byte{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		key := r.Header.Get("Idempotency-Key")
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || key == "" || !json.Valid(body) {
			http.Error(w, "want a JSON record and an Idempotency-Key", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests++
		if _, ok := s.records[key]; ok {
			s.duplicates++
			w.WriteHeader(http.StatusConflict)
			return
		}
		s.records[key] = body
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"records\": %d, \"requests\": %d, \"duplicates\": %d}\n", len(s.records), s.requests, s.duplicates)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Printf("receiver: listening on http://%s", ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
