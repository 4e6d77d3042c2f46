//go:build !cgo || !linux

package emu

// Available reports whether the emulator is built in (cgo).
const Available = false

func SetMode(Mode)          {}
func SetWatchdog(int)       {}
func SourcesSHA256() string { return "" }

func GemmNTBiasAct(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return ErrNoCgo
}
func GemmNN(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error { return ErrNoCgo }
func GemmTN(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error { return ErrNoCgo }
func GemmNTBiasAct64(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return ErrNoCgo
}
func GemmNN64(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error { return ErrNoCgo }
func GemmTN64(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error { return ErrNoCgo }
func GemmNNBiasAct(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return ErrNoCgo
}
func GemmNNBiasAct64(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return ErrNoCgo
}
func GemmNT(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error   { return ErrNoCgo }
func GemmNT64(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error { return ErrNoCgo }
func GemmNTBiasActTF32(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return ErrNoCgo
}
func GemmNNBiasActTF32(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return ErrNoCgo
}
func GemmNNTF32(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return ErrNoCgo
}
func GemmTNTF32(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return ErrNoCgo
}
func GemmNTTF32(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return ErrNoCgo
}
func GemmNTBiasActTF32x64(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return ErrNoCgo
}
func GemmNNBiasActTF32x64(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return ErrNoCgo
}
func GemmNNTF32x64(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return ErrNoCgo
}
func GemmTNTF32x64(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return ErrNoCgo
}
func GemmNTTF32x64(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return ErrNoCgo
}
func GemmNTBiasActBF16(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return ErrNoCgo
}
func GemmNNBF16(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return ErrNoCgo
}
func GemmTNBF16(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return ErrNoCgo
}
func GemmNNBiasActBF16(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return ErrNoCgo
}
func GemmNTBF16(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return ErrNoCgo
}
func GemmNTBiasActBF16x64(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return ErrNoCgo
}
func GemmNNBF16x64(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return ErrNoCgo
}
func GemmTNBF16x64(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return ErrNoCgo
}
func GemmNNBiasActBF16x64(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return ErrNoCgo
}
func GemmNTBF16x64(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return ErrNoCgo
}
func mmaBF16Selftest(grid, block Dim3, regs []uint32, c, d []float32) error       { return ErrNoCgo }
func cvtBF16Selftest(hi, lo []float32, out []uint32) error                        { return ErrNoCgo }
func mmaSelftest(grid, block Dim3, regs []uint32, c, d []float32, mode int) error { return ErrNoCgo }
func cvtSelftest(x []float32, out []uint32) error                                 { return ErrNoCgo }
func ActGradBias(grid, block Dim3, dY, Y, Z, db []float32, M, N, act int, beta float32) error {
	return ErrNoCgo
}
func LossGradPartial(grid, block Dim3, kind int, P, T, G []float32, partial []float64, n int64, invN float32) error {
	return ErrNoCgo
}
func LossFinish(grid, block Dim3, partial []float64, nblocks int, acc []float32, scale float32) error {
	return ErrNoCgo
}
func RowLoss(grid, block Dim3, kind int, P, T, out []float32, rows, cols int) error { return ErrNoCgo }
func ColMean(grid, block Dim3, X, out []float32, rows, cols int) error              { return ErrNoCgo }
func SumsqPartial(grid, block Dim3, X []float32, partial []float64, n int64) error  { return ErrNoCgo }
func SumsqFinish(grid, block Dim3, partial []float64, nblocks int, acc []float32, mode int) error {
	return ErrNoCgo
}
func ClipScale(grid, block Dim3, G []float32, n int64, norm []float32, maxNorm float32) error {
	return ErrNoCgo
}
func AdamStep(grid, block Dim3, p, g, m, v []float32, n int64, lr, beta1, beta2, eps, wd, bc1, bc2 float32, decoupled int) error {
	return ErrNoCgo
}
func SGDStep(grid, block Dim3, p, g, buf []float32, n int64, lr, momentum, wd float32, first int) error {
	return ErrNoCgo
}
func Fill(grid, block Dim3, x []float32, n int64, v float32) error        { return ErrNoCgo }
func Copy(grid, block Dim3, dst, src []float32, n int64) error            { return ErrNoCgo }
func Axpy(grid, block Dim3, alpha float32, x, y []float32, n int64) error { return ErrNoCgo }
func Scale(grid, block Dim3, x []float32, n int64, alpha float32) error   { return ErrNoCgo }
func RandUniform(grid, block Dim3, x []float32, n int64, seed, stream uint64, lo, hi float32) error {
	return ErrNoCgo
}
func RandNormal(grid, block Dim3, x []float32, n int64, seed, stream uint64, mean, std float32) error {
	return ErrNoCgo
}
func Corrupt(grid, block Dim3, dst, src []float32, n int64, kind int, level float32, seed, stream uint64) error {
	return ErrNoCgo
}
func RandNormalAt(grid, block Dim3, x []float32, n int64, seed, stream, start uint64, mean, std float32) error {
	return ErrNoCgo
}
func CorruptAt(grid, block Dim3, dst, src []float32, n int64, kind int, level float32, seed, stream, start uint64) error {
	return ErrNoCgo
}
func SparsityGrad(grid, block Dim3, H, dH, rho []float32, partial []float64, B, D int, l1, beta, target float32) error {
	return ErrNoCgo
}
func ContractiveExact(grid, block Dim3, dY, Y, Z, W, dW, db []float32, partial []float64, B, D, K, act int, lambda float32) error {
	return ErrNoCgo
}
func ActJVP(grid, block Dim3, U, S, Y, Z []float32, n int64, act int) error { return ErrNoCgo }
func ActJVPBackward(grid, block Dim3, dS, dZE, dU, S, Y, Z []float32, n int64, act int) error {
	return ErrNoCgo
}
func ActGradAdd(grid, block Dim3, dY, E, Y, Z []float32, n int64, act int) error { return ErrNoCgo }
func Reparam(grid, block Dim3, Zo, MU, LV, EPS []float32, n int64) error         { return ErrNoCgo }
func ReparamGradPartial(grid, block Dim3, dMU, dLV, beta, dZ, MU, LV, EPS []float32, partial []float64, n int64, scale float32) error {
	return ErrNoCgo
}
func sharedBytes() int64 { return 0 }

func selftest(grid, block Dim3, which int, out []float32) error { return ErrNoCgo }
func LayerNormFwd(grid, block Dim3, X, G, Bt, Y, mean, rstd []float32, rows, cols int, eps float32) error {
	return ErrNoCgo
}
func LayerNormBwdDX(grid, block Dim3, DY, X, G, mean, rstd, DX []float32, rows, cols int) error {
	return ErrNoCgo
}
func LayerNormBwdParams(grid, block Dim3, DY, X, mean, rstd, DG, DB []float32, rows, cols int) error {
	return ErrNoCgo
}
func EMA(grid, block Dim3, decay float32, x, avg []float32, n int64) error { return ErrNoCgo }
