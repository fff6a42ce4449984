package harness

import "golang.org/x/sys/unix"

// AllowedCPUs lists the CPUs the driver may run on (its affinity, which a
// cpuset or taskset may have narrowed), in ascending order: the CPUs a
// pinned child can be given.
func AllowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, err
	}
	var cpus []int
	for i := range len(set) * 64 {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus, nil
}
