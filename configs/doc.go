// Package configs holds Portico's configuration model: API definitions
// (REST and HTTP APIs, resources, routes and integrations), deployments and
// stages, the committed State that the data plane reads, the node config,
// strict YAML/JSON decoding, validation with field paths, and OpenAPI 3.0
// import and export.
//
// Everything here is plain data plus pure functions. Nothing in this package
// does I/O beyond decoding the bytes it is handed, so the Raft FSM, the admin
// API and the endpoints can all share it without depending on each other.
package configs
