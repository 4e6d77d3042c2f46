//go:build amd64 && !noasm

package cpu_fallback

//go:noescape
func fmaLoopAVX512(n int)

//go:noescape
func fmaLoopAVX2(n int)

// fmaLoop runs n iterations of path p's FMA probe and returns its FLOPs,
// or reports false for the generic path (which has no FMA loop of its own).
func fmaLoop(p kernelPath, n int) (float64, bool) {
	switch p {
	case pathAVX512:
		fmaLoopAVX512(n)
		return 384 * float64(n), true
	case pathAVX2:
		fmaLoopAVX2(n)
		return 192 * float64(n), true
	}
	return 0, false
}
