// Package deploy will hold the container image, systemd units and
// multi-node compose and Kubernetes manifests, with tests that check them
// against the node config format. The walking skeleton ships only
// configs/examples/node.yaml.
package deploy
