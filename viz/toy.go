package viz

import (
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// Toy data dimensions: 8 features driven by 4 latent factors.
const (
	ToyRows    = 2000
	ToyCols    = 8
	ToyFactors = 4
)

// ToyName names the built-in toy data on the page.
const ToyName = "toy: 8-D points from 4 latent factors plus noise (built in)"

// ToyData returns rows points in [0, 1]^8 generated from 4 latent factors
// plus noise, and each point's label: the factor that dominates it (0…3).
//
// Every point has one dominant factor drawn from U(0.6, 1) and three weak
// ones from U(0, 0.15); a fixed non-negative 8×4 mixing matrix whose rows
// sum to 1 maps the factors to the 8 features, Gaussian noise (σ = 0.03) is
// added and the result clamped to [0, 1]. The points thus lie near a 4-D
// subspace, in four clusters: an 8 → 4 → 8 autoencoder can learn it. The
// same seed gives the same data on every machine (Philox streams).
func ToyData(rows int, seed uint64) (*dataset.Table, []int) {
	mix := make([]float32, ToyCols*ToyFactors)
	engine.FillUniform(mix, seed, engine.StreamToyMix, 0, 0, 1)
	for j := 0; j < ToyCols; j++ {
		row := mix[j*ToyFactors : (j+1)*ToyFactors]
		// Each feature leans on one factor (j mod 4) so that every factor
		// shows in the data.
		row[j%ToyFactors] += 1.5
		var s float32
		for _, v := range row {
			s += v
		}
		for k := range row {
			row[k] /= s
		}
	}
	f := make([]float32, rows*ToyFactors)
	engine.FillUniform(f, seed, engine.StreamToyFactor, 0, 0, 0.15)
	pick := make([]float32, rows)
	engine.FillUniform(pick, seed, engine.StreamToyPick, 0, 0, 1)
	strong := make([]float32, rows)
	engine.FillUniform(strong, seed, engine.StreamToyPick, uint64(rows), 0.6, 1)
	noise := make([]float32, rows*ToyCols)
	engine.FillNormal(noise, seed, engine.StreamToyNoise, 0, 0, 0.03)
	labels := make([]int, rows)
	data := make([]float32, rows*ToyCols)
	for i := 0; i < rows; i++ {
		k := min(int(pick[i]*ToyFactors), ToyFactors-1)
		labels[i] = k
		fi := f[i*ToyFactors : (i+1)*ToyFactors]
		fi[k] = strong[i]
		for j := 0; j < ToyCols; j++ {
			var v float32
			for q := 0; q < ToyFactors; q++ {
				v += mix[j*ToyFactors+q] * fi[q]
			}
			// Stretch to use more of [0, 1] (the mixture lies in [0, ~0.7]).
			v = 1.3*v + noise[i*ToyCols+j]
			data[i*ToyCols+j] = min(max(v, 0), 1)
		}
	}
	return &dataset.Table{Rows: rows, Cols: ToyCols, Data: data, Shape: []int{rows, ToyCols}}, labels
}
