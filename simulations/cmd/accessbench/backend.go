package main

import "net/http"

// helloBody is the backend's whole answer: small and fixed, so the
// benchmark measures the gateway's work rather than payload copying.
const helloBody = "hello from accessbench\n"

// helloHandler is the minimal backend, as proxybench's: GET /hello
// answers 200 with helloBody, anything else 404.
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
