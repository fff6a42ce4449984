package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/portico-gw/portico/simulations/harness"
)

// route is one resource of the bench API under load, and how a caller
// proves who it is there.
type route struct {
	name string
	url  string
	host string
	// header is the credential wrk sends ("Name: value"); empty on the
	// open route.
	header string
	// denied are the statuses the route may answer without the
	// credential; empty on the open route, which must answer 200.
	denied []int
	runs   []harness.WrkResult
	// coldErrors are the error statuses of each measured run's prime.
	coldErrors []int64
}

// wrk is the route as wrk loads it, with its credential.
func (r *route) wrk() harness.WrkTarget {
	return harness.WrkTarget{Name: r.name, URL: r.url, Host: r.host, Headers: r.headers()}
}

// headers are the extra request headers.
func (r *route) headers() []string {
	if r.header == "" {
		return nil
	}
	return []string{r.header}
}

// credential names what the route is loaded with, never its value (the
// report is kept; the key and token are not).
func (r *route) credential() string {
	name, _, _ := strings.Cut(r.header, ":")
	return name
}

// check makes one request the way wrk will, with the credential, and
// wants the backend's answer (harness.CheckHello); then one without, and
// wants it refused (the open route: served). A route answering errors
// would otherwise be measured as a fast route.
func (r *route) check(ctx context.Context, c *http.Client) error {
	if err := harness.CheckHello(ctx, c, r.wrk(), helloBody); err != nil {
		return err
	}
	if r.header == "" {
		return nil
	}
	bare := r.wrk()
	bare.Headers = nil
	status, _, body, err := bare.Get(ctx, c)
	if err != nil {
		return err
	}
	if !slices.Contains(r.denied, status) {
		return harness.Permanent(fmt.Errorf("GET %s (Host %q) without %s = %d %q, want one of %v: the route does not check its credential",
			r.url, r.host, r.credential(), status, body, r.denied))
	}
	return nil
}

// runOrder is the order of the routes in measured round i (0-based): the
// list rotated by i, so that each route leads, follows and closes a round
// equally often over len(names) rounds, and a drift of the shared machine
// does not always hit the same one.
func runOrder[T any](routes []T, i int) []T {
	n := len(routes)
	if n == 0 {
		return nil
	}
	k := i % n
	return append(slices.Clone(routes[k:]), routes[:k]...)
}
