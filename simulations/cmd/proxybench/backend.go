package main

import "net/http"

// helloBody is the backend's whole answer: small and fixed, so the
// benchmark measures the proxy hop rather than payload copying.
const helloBody = "hello from proxybench\n"

// helloHandler is the minimal backend: GET /hello answers 200 with
// helloBody, anything else 404. No mux and no sniffing, as the "minimal Go
// net/http hello" of the research note's §3.1.
func helloHandler() http.Handler {
	body := []byte(helloBody)
	ctype := []string{"text/plain; charset=utf-8"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hello" {
			http.NotFound(w, r)
			return
		}
		w.Header()["Content-Type"] = ctype
		w.Write(body)
	})
}
