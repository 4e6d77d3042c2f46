package autoencoder_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/aegpu/aegpu/autoencoder"
	_ "github.com/aegpu/aegpu/backends" // links the CPU and CUDA backends
)

// factors returns rows of 8 features driven by 2 hidden factors.
func factors(rows int) []float32 {
	x := make([]float32, rows*8)
	for r := range rows {
		u, v := math.Sin(float64(r)*0.37), math.Cos(float64(r)*0.11)
		for j := range 8 {
			x[r*8+j] = float32(0.5 + 0.3*u*math.Cos(float64(j)) + 0.2*v*math.Sin(float64(j)+1))
		}
	}
	return x
}

// Reduce 8 features to a 2-number code, decode it, and score rows.
func Example() {
	X := factors(600)
	cfg := autoencoder.DefaultTrainConfig()
	cfg.Epochs, cfg.Batch, cfg.LR = 40, 32, 3e-3
	ae, err := autoencoder.New(autoencoder.Options{Layers: []int{0, 6, 2}, Hidden: "tanh", Train: cfg, Device: "cpu"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ae.Close()
	if err := ae.Fit(context.Background(), X, 8); err != nil {
		fmt.Println(err)
		return
	}
	codes, _ := ae.Transform(X)            // 600×2
	recon, _ := ae.InverseTransform(codes) // 600×8, in the data's units
	scores, _ := ae.Score(X[:3*8])         // one reconstruction error per row
	m := ae.Metrics()
	fmt.Println(len(codes)/2, "codes,", len(recon)/8, "reconstructions,", len(scores), "scores")
	fmt.Println("loss fell 5×:", m[len(m)-1].TrainLoss < m[0].TrainLoss/5)
	// Output:
	// 600 codes, 600 reconstructions, 3 scores
	// loss fell 5×: true
}

// A variational autoencoder: the variant and its settings go in Train.
func Example_variational() {
	cfg := autoencoder.DefaultTrainConfig()
	cfg.Epochs, cfg.Batch, cfg.Kind, cfg.KLBeta, cfg.KLWarmup = 5, 32, "vae", 1, 2
	ae, err := autoencoder.New(autoencoder.Options{Layers: []int{8, 6, 2}, Train: cfg, Device: "cpu"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ae.Close()
	if err := ae.Fit(context.Background(), factors(300), 8); err != nil {
		fmt.Println(err)
		return
	}
	last := ae.Metrics()[4]
	fmt.Printf("KL reported: %v, β after warm-up: %g\n", last.TrainKL != nil, *last.KLBeta)
	// Output:
	// KL reported: true, β after warm-up: 1
}

func TestAPISaveLoadAndCancel(t *testing.T) {
	dir := t.TempDir()
	X := factors(300)
	cfg := autoencoder.DefaultTrainConfig()
	cfg.Epochs, cfg.Batch = 3, 50
	ae, err := autoencoder.New(autoencoder.Options{Layers: []int{0, 5, 3}, Train: cfg, Device: "cpu", Dir: filepath.Join(dir, "ckpt")})
	if err != nil {
		t.Fatal(err)
	}
	defer ae.Close()
	if _, err := ae.Transform(X); err == nil {
		t.Error("Transform before Fit did not fail")
	}
	if err := ae.Fit(context.Background(), X, 8); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ckpt", autoencoder.StateFile)); err != nil {
		t.Errorf("Fit with Dir wrote no checkpoint: %v", err)
	}
	if err := ae.Save(filepath.Join(dir, "saved")); err != nil {
		t.Fatal(err)
	}
	back, err := autoencoder.Load(filepath.Join(dir, "saved"), "cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	a, _ := ae.Transform(X)
	b, err := back.Transform(X)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("loaded model's code %d = %v, saved model's %v", i, b[i], a[i])
		}
	}
	if _, err := back.Transform(X[:7]); err == nil {
		t.Error("Transform of a partial row did not fail")
	}
	// A cancelled context stops Fit with ErrInterrupted; the model stays usable.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ae.Fit(ctx, X, 8); !errors.Is(err, autoencoder.ErrInterrupted) {
		t.Fatalf("Fit with a cancelled context: %v", err)
	}
	if _, err := ae.Transform(X); err != nil {
		t.Errorf("Transform after an interrupted Fit: %v", err)
	}
	bad := append([]float32(nil), X...)
	bad[13] = float32(math.NaN())
	if err := ae.Fit(context.Background(), bad, 8); err == nil || err.Error() != "fit: X row 1 column 5 is NaN" {
		t.Errorf("Fit on NaN: %v", err)
	}
}

// Export a trained model as an ONNX graph that ONNX runtimes run: rows in
// the data's units in, reconstructions and codes out (the scaler is part
// of the graph).
func ExampleModel_WriteONNX() {
	cfg := autoencoder.DefaultTrainConfig()
	cfg.Epochs, cfg.Batch = 2, 32
	ae, err := autoencoder.New(autoencoder.Options{Layers: []int{0, 6, 2}, Hidden: "gelu", Train: cfg, Device: "cpu"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ae.Close()
	if err := ae.Fit(context.Background(), factors(200), 8); err != nil {
		fmt.Println(err)
		return
	}
	dir, err := os.MkdirTemp("", "onnx-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	for _, part := range []autoencoder.ONNXPart{autoencoder.ONNXModel, autoencoder.ONNXEncoder, autoencoder.ONNXDecoder} {
		path := filepath.Join(dir, part.String()+".onnx")
		if err := ae.Model().WriteONNX(path, ae.Config(), autoencoder.ONNXOptions{Part: part}); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("wrote", filepath.Base(path))
	}
	// Output:
	// wrote encoder+decoder.onnx
	// wrote encoder.onnx
	// wrote decoder.onnx
}
