// Package endpoints is the data plane of a Portico node: the listeners that
// clients reach and the request pipeline behind them.
//
// It exists so that everything on the request path lives in one place and
// depends only on the committed configuration (configs.Source), never on
// the cluster implementation. A Regional endpoint listens for HTTPS
// (HTTP/1.1 and HTTP/2), resolves the invoke host {apiId}.{region}.{zone}
// and the first path segment (the stage) to a deployed API, matches a
// route, and runs its integration (an HTTP proxy to a backend, or a MOCK).
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
