// Package engine defines the contract between aegpu's models and the devices
// that run them: device-resident float32 matrices, the fused operations an MLP
// autoencoder needs, and the registry through which backends (the pure-Go CPU
// backend, the CUDA backend) make themselves available.
//
// Code above this package (autoencoder, the CLI) talks only to Backend; it
// never imports a backend package. Backends register a Driver from their
// init function, the way database/sql drivers do, and Open picks one.
//
// Conventions shared by every operation:
//
//   - Matrices are float32, row-major and contiguous (stride = Cols).
//   - A Matrix is a view: a buffer, an element offset and a shape. Many views
//     may share one buffer (all of a model's weights and biases live in one
//     allocation so the optimizer is a single call).
//   - Operations are asynchronous with respect to the host on devices that
//     can be: a result is only guaranteed visible to the host after Download
//     or Sync.
//   - Shapes are checked; a mismatch is an error value, never a panic.
//   - Reductions that produce a scalar write it to a 1×1 device matrix, so a
//     training step needs no host round trip until the value is read.
package engine

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Buffer is one allocation of float32s on a backend's device. Backends define
// their own concrete type; code above the engine only passes it around.
type Buffer interface {
	// Len is the number of float32 elements in the allocation.
	Len() int
}

// Matrix is a rows×cols row-major view into a Buffer starting at element Off.
// The zero Matrix is "absent": operations that take optional outputs skip
// them when given one.
type Matrix struct {
	Buf        Buffer
	Off        int
	Rows, Cols int
}

// Len is Rows·Cols.
func (m Matrix) Len() int { return m.Rows * m.Cols }

// Empty reports whether m is the absent matrix.
func (m Matrix) Empty() bool { return m.Buf == nil }

// Shape formats m's shape as "[rows×cols]".
func (m Matrix) Shape() string { return fmt.Sprintf("[%d×%d]", m.Rows, m.Cols) }

// View returns the rows×cols matrix starting at element off of m's storage
// (off is relative to m.Off). It panics only on a programming error (a view
// outside m), never on user input.
func (m Matrix) View(off, rows, cols int) Matrix {
	if off < 0 || rows < 0 || cols < 0 || off+rows*cols > m.Len() {
		panic(fmt.Sprintf("engine: view [%d:+%d×%d] outside %s", off, rows, cols, m.Shape()))
	}
	return Matrix{Buf: m.Buf, Off: m.Off + off, Rows: rows, Cols: cols}
}

// RowSlice returns rows [i, i+n) of m.
func (m Matrix) RowSlice(i, n int) Matrix { return m.View(i*m.Cols, n, m.Cols) }

// Reshape returns the same elements viewed as rows×cols.
func (m Matrix) Reshape(rows, cols int) Matrix { return m.View(0, rows, cols) }

// Act is an activation function applied elementwise after a dense layer.
type Act int

const (
	Linear    Act = iota // identity
	ReLU                 // max(z, 0)
	LeakyReLU            // z if z > 0 else 0.01·z (PyTorch's default slope)
	Tanh                 // tanh(z)
	Sigmoid              // 1 / (1 + e^−z)
	GELU                 // z·Φ(z), the exact erf form (PyTorch's default)
)

// LeakySlope is the negative-side slope of LeakyReLU.
const LeakySlope = 0.01

var actNames = [...]string{"linear", "relu", "leaky_relu", "tanh", "sigmoid", "gelu"}

func (a Act) String() string {
	if a >= 0 && int(a) < len(actNames) {
		return actNames[a]
	}
	return fmt.Sprintf("Act(%d)", int(a))
}

// NeedsPre reports whether the activation's derivative needs the
// pre-activation z (GELU) rather than being computable from the output y.
func (a Act) NeedsPre() bool { return a == GELU }

// ParseAct parses an activation name as printed by Act.String.
func ParseAct(s string) (Act, error) {
	for i, n := range actNames {
		if s == n {
			return Act(i), nil
		}
	}
	return 0, fmt.Errorf("unknown activation %q (want one of linear, relu, leaky_relu, tanh, sigmoid, gelu)", s)
}

// Loss selects a reconstruction loss. Every loss is the mean over all
// elements of the batch, as PyTorch's default reduction.
type Loss int

const (
	// MSE is (pred − target)².
	MSE Loss = iota
	// BCE is −[t·log p + (1−t)·log(1−p)] on probabilities p, with log
	// clamped at −100 as PyTorch's BCELoss does; its gradient is
	// (p − t) / (max(p(1−p), 1e-12)·N).
	BCE
	// BCEWithLogits is BCE on σ(pred) computed stably from the logits pred;
	// its gradient is (σ(pred) − t)/N. The trainer uses it when the output
	// activation is sigmoid and the loss is bce, fusing the two.
	BCEWithLogits
	// MAE is |pred − target| (for scoring; its gradient is sign/N).
	MAE
)

var lossNames = [...]string{"mse", "bce", "bce_logits", "mae"}

func (l Loss) String() string {
	if l >= 0 && int(l) < len(lossNames) {
		return lossNames[l]
	}
	return fmt.Sprintf("Loss(%d)", int(l))
}

// ParseLoss parses a loss name as printed by Loss.String.
func ParseLoss(s string) (Loss, error) {
	for i, n := range lossNames {
		if s == n {
			return Loss(i), nil
		}
	}
	return 0, fmt.Errorf("unknown loss %q (want mse, bce, bce_logits or mae)", s)
}

// OptKind selects an optimizer update rule.
type OptKind int

const (
	SGD   OptKind = iota // SGD with optional momentum and L2 weight decay
	Adam                 // Adam with L2 weight decay added to the gradient
	AdamW                // Adam with decoupled weight decay
)

var optNames = [...]string{"sgd", "adam", "adamw"}

func (o OptKind) String() string {
	if o >= 0 && int(o) < len(optNames) {
		return optNames[o]
	}
	return fmt.Sprintf("OptKind(%d)", int(o))
}

// ParseOpt parses an optimizer name.
func ParseOpt(s string) (OptKind, error) {
	for i, n := range optNames {
		if s == n {
			return OptKind(i), nil
		}
	}
	return 0, fmt.Errorf("unknown optimizer %q (want adam, adamw or sgd)", s)
}

// OptStep holds the hyper-parameters of one optimizer step. The update rules
// follow PyTorch's torch.optim exactly (g is the gradient, p the parameter):
//
//	SGD:   g += wd·p;  buf = μ·buf + g (buf = g on step 1);  p −= lr·buf
//	       (with μ = 0: p −= lr·g, and the state is untouched)
//	Adam:  g += wd·p;  m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
//	       p −= lr · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + eps)
//	AdamW: p −= lr·wd·p;  then Adam with wd = 0
type OptStep struct {
	Kind        OptKind
	LR          float32
	Beta1       float32 // Adam/AdamW
	Beta2       float32 // Adam/AdamW
	Eps         float32 // Adam/AdamW
	Momentum    float32 // SGD
	WeightDecay float32
	Step        int // 1-based step count t (bias correction, SGD's first step)
}

// DeviceInfo describes the device a backend runs on.
type DeviceInfo struct {
	Backend string // "cpu", "cuda"
	Index   int
	Name    string // e.g. "NVIDIA H100 80GB HBM3", or the CPU model
	Detail  string // threads, compute capability, SMs…
	Memory  int64  // bytes, 0 when unknown
	// PeakFLOPS is the device's dense float32 peak (FMA = 2 FLOP), 0 when
	// unknown; benchmarks report their throughput as a fraction of it.
	PeakFLOPS float64
}

func (d DeviceInfo) String() string {
	s := d.Backend
	if d.Backend != "cpu" {
		s = fmt.Sprintf("%s:%d", d.Backend, d.Index)
	}
	s += " (" + d.Name
	if d.Detail != "" {
		s += ", " + d.Detail
	}
	return s + ")"
}

// Backend is a device that stores matrices and runs aegpu's operations on
// them. Shapes below use B for the batch (rows), in/out for layer widths.
//
// A training step is a fixed sequence of these calls on fixed buffers, so a
// backend may record the sequence once and replay it.
type Backend interface {
	// Info describes the device.
	Info() DeviceInfo
	// Alloc returns a zeroed rows×cols matrix that owns a new buffer.
	Alloc(rows, cols int) (Matrix, error)
	// Free releases m's buffer. Freeing the absent matrix is a no-op.
	Free(m Matrix)
	// Upload copies len(src) == dst.Len() host values into dst.
	Upload(dst Matrix, src []float32) error
	// Download copies src into the host slice dst (len(dst) == src.Len()),
	// waiting for all queued work that produces src.
	Download(dst []float32, src Matrix) error
	// Sync waits for all queued work.
	Sync() error
	// Close releases the device. The backend is unusable afterwards.
	Close() error

	// Dense computes the fused layer
	//
	//	z = x·wᵀ + b    x [B×in], w [out×in], b [1×out]
	//	y = act(z)      y, z [B×out]
	//
	// With TransW in opt, w is stored [in×out] and z = x·w + b (a tied
	// decoder layer using its encoder layer's weight as stored).
	// z may be absent unless act.NeedsPre(); y and z may not alias x.
	Dense(y, z, x, w, b Matrix, act Act, opt DenseOpt) error

	// DenseBackward is Dense's backward pass. On entry dy holds ∂L/∂y; it is
	// overwritten with ∂L/∂z = dy ⊙ act′ (computed from y, or from z when
	// act.NeedsPre()). Then
	//
	//	dx  (+)= dz·w        [B×in]   (skipped when dx is absent)
	//	dw  (+)= dzᵀ·x       [out×in]
	//	db  (+)= Σ_rows dz   [1×out]  (skipped when db is absent)
	//
	// With TransW, w and dw are [in×out]: dx (+)= dz·wᵀ, dw (+)= xᵀ·dz.
	// dw and db are added to with Accumulate in opt, dx with AccumulateDX;
	// otherwise they are overwritten.
	DenseBackward(dx, dw, db, dy, y, z, x, w Matrix, act Act, opt DenseOpt) error

	// LossGrad computes the mean loss L over all elements of pred and target
	// (both [B×D]), adds weight·L to acc [1×1], and writes ∂L/∂pred into grad
	// (which may alias neither input). For BCEWithLogits pred holds logits.
	LossGrad(kind Loss, acc, grad, pred, target Matrix, weight float32) error

	// RowLoss writes each row's mean elementwise loss into out [B×1].
	RowLoss(kind Loss, out, pred, target Matrix) error

	// OptimizerStep updates params in place from grads (same shape) with the
	// rule in o, using state1 and state2 (same shape as params) as the
	// optimizer's moments (SGD uses state1 as its momentum buffer). grads is
	// left unchanged.
	OptimizerStep(o OptStep, params, grads, state1, state2 Matrix) error

	// ClipGradNorm scales grads by min(1, maxNorm / (‖grads‖₂ + 1e-6)), as
	// PyTorch's clip_grad_norm_, and writes ‖grads‖₂ (before clipping) into
	// norm [1×1].
	ClipGradNorm(grads, norm Matrix, maxNorm float32) error

	// Fill sets every element of x to v.
	Fill(x Matrix, v float32) error
	// Copy copies src into dst (same number of elements).
	Copy(dst, src Matrix) error
	// Axpy computes y += alpha·x elementwise.
	Axpy(alpha float32, x, y Matrix) error
	// Scale computes x *= alpha elementwise.
	Scale(x Matrix, alpha float32) error
	// EMA moves avg toward x, elementwise: avg += (1−decay)·(x − avg), each
	// operation rounded to float32 on its own (1−decay, the difference,
	// the product, the sum), so that every backend gives the same bits.
	// It keeps an exponential moving average of the weights (--ema).
	EMA(avg, x Matrix, decay float32) error
	// LayerNorm normalises each row of x (n×d) and applies the features'
	// gain and bias: y = x̂·γ + β with x̂ = (x − μ)·r, μ the row's mean,
	// r = 1/√(σ² + eps) and σ² the row's biased variance (sums in float64,
	// x̂ rounded to float32 before the gain, the product before the bias).
	// It writes μ and r (n×1 each) for LayerNormBackward; gamma and beta
	// are 1×d.
	LayerNorm(y, mean, rstd, x, gamma, beta Matrix, eps float32) error
	// LayerNormBackward writes, from dy (n×d) and the forward pass's x, μ
	// and r, dx = r·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·γ (the means
	// over the row, in float64), and overwrites the parameters' gradients
	// dgamma = Σ_rows dy·x̂ and dbeta = Σ_rows dy (1×d, float64 sums in row
	// order). dx may be absent (no input gradient wanted).
	LayerNormBackward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma Matrix) error
	// SumSquares adds Σ x² to acc [1×1].
	SumSquares(acc, x Matrix) error
	// ColMean writes the mean of each column of x [B×D] into out [1×D].
	ColMean(out, x Matrix) error

	// RandUniform fills dst with lo + (hi−lo)·u, u the Uniform stream of
	// (seed, stream) defined in this package (element i of dst is element
	// i of the stream).
	RandUniform(dst Matrix, seed, stream uint64, lo, hi float32) error
	// RandNormal fills dst with mean + std·n, n the Normal stream of
	// (seed, stream) defined in this package.
	RandNormal(dst Matrix, seed, stream uint64, mean, std float32) error

	// Corrupt writes a corrupted copy of src into dst (same shape; they may
	// not overlap unless identical) for denoising autoencoders. Element i
	// draws element i of the (seed, stream) streams of this package:
	//
	//	NoiseGaussian:   dst = src + level·Normal(i)
	//	NoiseMasking:    dst = Uniform(i) < level ? 0 : src
	//	NoiseSaltPepper: u = Uniform(i); dst = u < level/2 ? 0 : u < level ? 1 : src
	//	NoiseNone:       dst = src
	Corrupt(dst, src Matrix, kind Noise, level float32, seed, stream uint64) error

	// The ops below are the regularizers of the autoencoder variants
	// (sparse, contractive, variational). act′ and act″ are the first and
	// second derivatives of act, computed from y or, when act.NeedsPre(),
	// from z, as in DenseBackward; for linear, relu and leaky_relu act″ = 0.

	// Sparsity adds sparsity penalties on a layer's activations h [B×D] to
	// acc [1×1] and their gradient to dh [B×D] (∂L/∂h, which holds the rest
	// of the gradient on entry), and writes each unit's mean activation
	// ρ̂_j = (1/B)·Σ_i h_ij into rho [1×D]:
	//
	//	L1:  P₁ = l1·(1/B)·Σ_ij |h_ij|             dh_ij += l1·sign(h_ij)/B   (sign(0) = 0)
	//	KL:  r_j = clamp(ρ̂_j, 1e-6, 1−1e-6)
	//	     P₂ = beta·Σ_j [ρ·log(ρ/r_j) + (1−ρ)·log((1−ρ)/(1−r_j))]
	//	                                            dh_ij += beta/B·(−ρ/r_j + (1−ρ)/(1−r_j))
	//	acc += weight·(P₁ + P₂)
	//
	// with ρ = target in (0, 1) (needed only when beta > 0). The clamp only
	// guards the logarithms: the gradient is taken as if r = ρ̂.
	Sparsity(acc, dh, rho, h Matrix, l1, beta, target, weight float32) error

	// ContractiveExact is the contractive penalty of a one-layer encoder
	// h = act(z), z = x·wᵀ + b (w [D×in], y = h and z [B×D]), in closed form:
	//
	//	P = lambda·(1/B)·Σ_ij a′_ij²·‖w_j‖²       ‖w_j‖² = Σ_k w_jk²
	//
	// It adds weight·P to acc, turns dy (∂L/∂h on entry) into ∂(L+P)/∂z in
	// place,
	//
	//	dy_ij ← dy_ij·a′_ij + 2·lambda/B·‖w_j‖²·a′_ij·a″_ij
	//
	// and writes the penalty's direct weight gradient into dw [D×in] and
	// zeros into db [1×D],
	//
	//	dw_jk = 2·lambda/B·(Σ_i a′_ij²)·w_jk
	//
	// so that DenseBackward(dx, dw, db, dy, y, z, x, w, Linear, Accumulate)
	// then completes the layer's gradient.
	ContractiveExact(acc, dy, dw, db, y, z, w Matrix, act Act, lambda, weight float32) error

	// ActJVP pushes a tangent s [B×D] through an activation: u = act′ ⊙ s
	// (u may equal s). A forward-mode Jacobian–vector product through a
	// layer is Dense(s, _, u_prev, w, zeros, Linear, 0) followed by ActJVP.
	ActJVP(u, s, y, z Matrix, act Act) error
	// ActJVPBackward is ActJVP's backward pass: given du = ∂P/∂u,
	//
	//	dzExtra += du ⊙ s ⊙ act″    (P's gradient on the pre-activation)
	//	ds       = du ⊙ act′        (ds may equal du)
	ActJVPBackward(ds, dzExtra, du, s, y, z Matrix, act Act) error
	// ActBackward turns dy = ∂L/∂y into ∂L/∂z in place and adds extra
	// (absent: nothing): dy ← dy ⊙ act′ + extra. DenseBackward with Linear
	// then finishes the layer.
	ActBackward(dy, extra, y, z Matrix, act Act) error

	// Reparameterize samples a variational autoencoder's latent code
	// (all [B×D]; eps holds standard normal draws, e.g. from RandNormal):
	//
	//	z = mu + exp(½·lv)·eps,   lv = clamp(logvar, LogVarMin, LogVarMax)
	Reparameterize(z, mu, logvar, eps Matrix) error
	// ReparamBackward is Reparameterize's backward pass plus the KL
	// divergence of N(mu, e^lv) from N(0, I). Given dz = ∂L/∂z it writes
	//
	//	KL      = Σ_ij −½·(1 + lv − mu² − e^lv)        (over batch and units)
	//	dmu     = dz + β·scale·mu
	//	dlogvar = ½·dz·eps·e^(½·lv) + β·scale·½·(e^lv − 1)
	//	          where LogVarMin ≤ logvar ≤ LogVarMax, else 0
	//	acc    += weight·KL
	//
	// β is read from beta [1×1] on the device, so a KL warm-up changes it
	// without re-recording the step. dmu and dlogvar may not alias inputs.
	ReparamBackward(dmu, dlogvar, acc, beta, dz, mu, logvar, eps Matrix, scale, weight float32) error
}

// LogVarMin and LogVarMax clamp a VAE's log-variance (σ from 3e-7 to 2e4)
// so that exp never overflows or underflows to a zero σ.
const (
	LogVarMin = -30
	LogVarMax = 20
)

// DenseOpt modifies Dense and DenseBackward (flags, or-ed together).
type DenseOpt uint8

const (
	// TransW: w (and dw) are stored transposed, [in×out]. A tied decoder
	// layer passes its encoder layer's weight and gradient as they are.
	TransW DenseOpt = 1 << iota
	// Accumulate: DenseBackward adds into dw and db instead of writing them.
	Accumulate
	// AccumulateDX: DenseBackward adds into dx instead of writing it.
	AccumulateDX
)

// AccumulateIf is Accumulate when acc is true, else no flag.
func AccumulateIf(acc bool) DenseOpt {
	if acc {
		return Accumulate
	}
	return 0
}

// Noise is a corruption applied to a denoising autoencoder's input.
type Noise int

const (
	NoiseNone       Noise = iota // no corruption
	NoiseGaussian                // additive N(0, level²)
	NoiseMasking                 // each element zeroed with probability level
	NoiseSaltPepper              // each element set to 0 or 1 (half each) with probability level
)

var noiseNames = [...]string{"none", "gaussian", "masking", "salt_pepper"}

func (n Noise) String() string {
	if n >= 0 && int(n) < len(noiseNames) {
		return noiseNames[n]
	}
	return fmt.Sprintf("Noise(%d)", int(n))
}

// ParseNoise parses "gaussian:0.3", "masking:0.25", "salt_pepper:0.1" (also
// "salt-pepper") or "none" into a kind and its level.
func ParseNoise(s string) (Noise, float32, error) {
	name, lvl, hasLevel := strings.Cut(strings.ToLower(strings.TrimSpace(s)), ":")
	name = strings.ReplaceAll(name, "-", "_")
	for i, n := range noiseNames {
		if name != n {
			continue
		}
		if Noise(i) == NoiseNone {
			if hasLevel {
				return 0, 0, fmt.Errorf("noise %q: none takes no level", s)
			}
			return NoiseNone, 0, nil
		}
		if !hasLevel {
			return 0, 0, fmt.Errorf("noise %q: give a level, e.g. %s:0.3", s, n)
		}
		v, err := strconv.ParseFloat(lvl, 32)
		if err != nil || !(v >= 0) || math.IsInf(v, 0) {
			return 0, 0, fmt.Errorf("noise %q: level must be a number ≥ 0", s)
		}
		if Noise(i) != NoiseGaussian && v > 1 {
			return 0, 0, fmt.Errorf("noise %q: a probability must be in [0, 1]", s)
		}
		return Noise(i), float32(v), nil
	}
	return 0, 0, fmt.Errorf("unknown noise %q (want gaussian:σ, masking:p, salt_pepper:p or none)", s)
}

// Recorder is implemented by backends that can capture a fixed sequence of
// ops once and replay it with a single call (CUDA graphs on the GPU). The
// trainer records a step's forward and backward pass per batch size and
// replays it; backends without it run the ops one by one.
type Recorder interface {
	// Record calls fn once, capturing the ops it issues instead of running
	// them, and returns a Replay that runs them. The ops' arguments
	// (matrices, shapes, scalars) are fixed at capture: replaying runs the
	// same ops on the same buffers. fn must not Alloc, Upload, Download or
	// Sync; such a call fails and so does Record.
	Record(fn func() error) (Replay, error)
}

// Replay is a recorded op sequence.
type Replay interface {
	// Run queues the recorded ops, in order, after all work queued before.
	Run() error
	// Free releases the recording.
	Free() error
}

// AsyncUploader is implemented by backends that can copy host data to the
// device on a second stream while queued work runs (the GPU's copy
// engine). The trainer double-buffers its input with it: batch t+1 is
// copied while step t computes.
type AsyncUploader interface {
	// Mark returns a marker of all work queued so far.
	Mark() (Marker, error)
	// UploadAfter copies src into dst once the work before after is
	// complete (nil: all work queued so far), overlapping with work queued
	// since. Work queued after this call runs after the copy. src may be
	// reused on return. The caller guarantees that no work queued after
	// the marker reads or writes dst.
	UploadAfter(dst Matrix, src []float32, after Marker) error
}

// FillUploader is implemented by backends whose memory the host can write
// (the CPU backend): the caller fills dst in place instead of filling a
// buffer of its own that Upload then copies. The trainer's data sources
// write each batch straight into the input this way.
type FillUploader interface {
	// UploadFill calls fill with a host slice of exactly dst.Len() values
	// and leaves in dst what fill wrote, as Upload(dst, values) would.
	// fill must not keep the slice. When fill fails its error is returned
	// and dst's content is unspecified.
	UploadFill(dst Matrix, fill func(host []float32) error) error
}

// Marker is a point in a backend's queue of work (see AsyncUploader).
type Marker any
