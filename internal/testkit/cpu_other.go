//go:build !unix

package testkit

import "testing"

// CPUPerOp reports nothing on this system: see the Unix version.
func CPUPerOp(*testing.B) (report func()) { return func() {} }
