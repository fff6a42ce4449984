//go:build !linux

package harness

import "errors"

// AllowedCPUs lists the CPUs the driver may run on; pinning (Pin) uses
// taskset, so it is supported on Linux only.
func AllowedCPUs() ([]int, error) {
	return nil, errors.New("pinning processes to CPUs needs Linux (taskset)")
}
