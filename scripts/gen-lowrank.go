//go:build ignore

// gen-lowrank writes the synthetic low-rank data set of the recipe study
// (scripts/recipe-study.sh, docs/recipe-study.md): rows x = u·V + ε with
// u ~ N(0, I_rank), V a fixed rank×cols matrix of N(0, 1/rank) entries (so
// each column has variance ≈ 1) and ε ~ N(0, σ²) per value. Train and test
// rows share V and are drawn from one seeded stream, so the files are the
// same on every machine and Go version that keeps math/rand/v2's PCG.
//
//	go run scripts/gen-lowrank.go -out data/lowrank   # lowrank-train.npy, lowrank-test.npy
//
// It is build-ignored: not part of ./... (vet, test), run with go run.
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("out", "data/lowrank", "directory for lowrank-train.npy and lowrank-test.npy")
	train := flag.Int("train", 20000, "training rows")
	test := flag.Int("test", 5000, "test rows")
	cols := flag.Int("cols", 64, "columns")
	rank := flag.Int("rank", 8, "rank of the noiseless part")
	sigma := flag.Float64("noise", 0.05, "standard deviation of the Gaussian noise per value")
	seed := flag.Uint64("seed", 19, "seed")
	flag.Parse()

	r := rand.New(rand.NewPCG(*seed, 0x5eed))
	v := make([]float64, *rank**cols)
	for i := range v {
		v[i] = r.NormFloat64() / math.Sqrt(float64(*rank))
	}
	gen := func(n int) []float32 {
		x := make([]float32, n**cols)
		u := make([]float64, *rank)
		for i := 0; i < n; i++ {
			for k := range u {
				u[k] = r.NormFloat64()
			}
			for j := 0; j < *cols; j++ {
				s := 0.0
				for k := range u {
					s += u[k] * v[k**cols+j]
				}
				x[i**cols+j] = float32(s + *sigma*r.NormFloat64())
			}
		}
		return x
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fail(err)
	}
	// Draw train first, then test, from the one stream.
	tr := gen(*train)
	te := gen(*test)
	for _, f := range []struct {
		name string
		x    []float32
		n    int
	}{{"lowrank-train.npy", tr, *train}, {"lowrank-test.npy", te, *test}} {
		p := filepath.Join(*out, f.name)
		if err := writeNPY(p, f.x, f.n, *cols); err != nil {
			fail(err)
		}
		fmt.Printf("wrote %s: %d × %d (rank %d, noise σ %g, seed %d)\n", p, f.n, *cols, *rank, *sigma, *seed)
	}
}

// writeNPY writes x (rows × cols, row-major) as a little-endian float32
// .npy file (format version 1.0).
func writeNPY(path string, x []float32, rows, cols int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	h := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
	// Pad so magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
	for (10+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	w.WriteString("\x93NUMPY\x01\x00")
	binary.Write(w, binary.LittleEndian, uint16(len(h)))
	w.WriteString(h)
	if err := binary.Write(w, binary.LittleEndian, x); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gen-lowrank:", err)
	os.Exit(1)
}
