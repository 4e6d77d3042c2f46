//go:build !linux

package emu

import "testing"

// fenced: without mmap, a plain guarded view (the emulator is Linux-only
// anyway; these tests skip elsewhere).
func fenced(t *testing.T, n int, atEnd bool) []float32 { return newBuf("fenced", n, false).v() }
