// Command portico is an edge-distributed API gateway in one binary.
package main

import (
	"os"

	"github.com/portico-gw/portico/node"
)

func main() { os.Exit(node.Main(os.Args[1:], os.Stdout, os.Stderr)) }
