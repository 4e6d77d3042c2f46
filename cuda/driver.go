// Package cuda is the engine.Backend that runs aegpu's own kernels
// (kernels/, embedded as a fatbin) on an NVIDIA GPU through the CUDA driver
// API. The driver library is loaded at run time, so this package builds and
// the binary runs on machines with no CUDA at all: Probe then says why there
// is no device and engine.Open("auto") falls back to the CPU.
package cuda

import (
	"fmt"

	"github.com/aegpu/aegpu/cuda/internal/cu"
	"github.com/aegpu/aegpu/engine"
)

func init() { engine.Register("cuda", driver{}) }

type driver struct{}

// Probe lists the CUDA devices, or says why there are none.
func (driver) Probe() ([]engine.DeviceInfo, error) {
	if err := cu.Init(); err != nil {
		return nil, &engine.Unavailable{Why: err.Error(), Brief: cu.Brief(err)}
	}
	n, err := cu.DeviceCount()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, &engine.Unavailable{Why: "the CUDA driver found no device", Brief: "no NVIDIA GPU found"}
	}
	var out []engine.DeviceInfo
	for i := 0; i < n; i++ {
		d, err := cu.Device(i)
		if err != nil {
			return nil, err
		}
		out = append(out, deviceInfo(d))
	}
	return out, nil
}

func deviceInfo(d cu.DeviceInfo) engine.DeviceInfo {
	return engine.DeviceInfo{
		Backend: "cuda", Index: d.Ordinal, Name: d.Name, Memory: d.TotalMem,
		Detail:    fmt.Sprintf("sm_%d%d, %d SMs, %.0f GiB", d.Major, d.Minor, d.SMs, float64(d.TotalMem)/(1<<30)),
		PeakFLOPS: peakFP32(d),
	}
}

// peakFP32 is SMs × FP32 lanes per SM × 2 (FMA) × clock: the dense float32
// peak (an H100 SXM: 132 × 128 × 2 × 1.98 GHz = 66.9 TFLOP/s). 0 when the
// driver does not report the clock.
func peakFP32(d cu.DeviceInfo) float64 {
	lanes := 64 // Volta, Turing, A100
	if d.Major >= 9 || (d.Major == 8 && d.Minor >= 6) {
		lanes = 128 // GA10x, Ada, Hopper
	}
	return float64(d.SMs) * float64(lanes) * 2 * float64(d.ClockKHz) * 1e3
}

// Open opens device index.
func (driver) Open(index int) (engine.Backend, error) { return New(index) }
