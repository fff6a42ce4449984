package main

import "github.com/portico-gw/portico/simulations/harness"

// The node's identity: invoke hosts are {apiId}.{region}.{zone}, and the
// node's generated certificate covers *.{region}.{zone} and 127.0.0.1.
const (
	nodeRegion = "us-east-1"
	nodeZone   = "portico.localhost"
	benchStage = "bench"
)

// benchNode is the gateway under test, every listener on a free port.
var benchNode = harness.SingleNode{Driver: "proxybench", Region: nodeRegion, Zone: nodeZone}

// benchDefinition is the API under test: one HTTP_PROXY route to the
// backend named by a stage variable.
const benchDefinition = `
name: proxybench
description: regional-proxy benchmark (simulations/cmd/proxybench)
resources:
  - path: /hello
    methods:
      GET:
        integration:
          type: HTTP_PROXY
          uri: http://${stageVariables.backend}/hello
          timeout: 5s
`
