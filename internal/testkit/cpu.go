//go:build unix

package testkit

import (
	"syscall"
	"testing"
)

// CPUPerOp makes the benchmark b report the CPU time its process spent per
// iteration, user and system, as the metric "cpu-ns/op". On a machine
// shared with other work, wall-clock ns/op counts the time spent waiting
// for a CPU as well; CPU time does not (the garbage collector's threads are
// counted: they run for the benchmark). Call it just before the loop, as
//
//	defer testkit.CPUPerOp(b)()
//	for b.Loop() { … }
func CPUPerOp(b *testing.B) (report func()) {
	start := processCPU()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// processCPU returns the user and system CPU time of the process so far,
// in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
