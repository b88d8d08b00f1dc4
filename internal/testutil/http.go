package testutil

import (
	"io"
	"net/http"
)

// Status returns a responder that answers with code, body and the given
// header pairs (name, value, name, value...), for test receivers whose
// responders also get the request's number (n, from 1).
func Status(code int, body string, header ...string) func(w http.ResponseWriter, r *http.Request, n int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

// HangUp drops the request's connection without any response: an answer
// lost, or a receiver that went away.
func HangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}
