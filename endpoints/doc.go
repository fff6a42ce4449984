// Package endpoints is the data plane of a Portico node: the listeners that
// clients reach and the request pipeline behind them.
//
// It exists so that everything on the request path lives in one place and
// depends only on the committed configuration (configs.Source), never on
// the cluster implementation. A Gateway is one endpoint of three kinds
// (Kind): regional (HTTPS, HTTP/1.1 and HTTP/2, at {apiId}.{region}.{zone}),
// edge (HTTP/1.1, HTTP/2 and HTTP/3 on one port at {apiId}.edge.{zone},
// forwarding to a regional node of the API's home region: forward.go) and
// origin (a regional node's side of that forwarding, behind mutual TLS).
// Each resolves the host and the first path segment (the stage) to a
// deployed API, matches a route, runs the stage's cache step when the
// route caches (cachestep.go, over package cache) and then its
// integration: an HTTP proxy to a backend, a MOCK, or on an edge the
// forward to the regional tier.
//
// The pipeline is a chain of plain net/http handlers. The part that
// depends on configuration (hosts, stages, routes, integrations, metric
// children) is compiled once per committed State into an immutable table
// and published through an atomic.Pointer; the request path reads that
// snapshot and never takes a lock. A stage that fails to compile keeps its
// previous table, so one bad stage never breaks the others.
//
// Every gateway-generated error is one typed value rendered in one place
// as {"message": ..., "request_id": ...}, and every response carries the
// X-Portico-Request-Id header that also appears in the access log and on
// the request sent to the backend.
package endpoints
