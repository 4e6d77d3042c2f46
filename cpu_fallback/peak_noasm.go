//go:build !amd64 || noasm

package cpu_fallback

// fmaLoop reports false: the generic path's peak is its kernel's.
func fmaLoop(p kernelPath, n int) (float64, bool) { return 0, false }
