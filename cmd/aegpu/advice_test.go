package main

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// TestFlagAdvice: the library's errors that name an API setting come out
// of the CLI advising its flags, wherever they sit in the chain, with the
// rest of the message and the chain (exit status included) kept.
func TestFlagAdvice(t *testing.T) {
	oom := errors.New("cuda: out of memory")
	for _, c := range []struct {
		err  error
		want string
	}{
		{&autoencoder.BatchMemoryError{Rows: 256, Cols: 512, Batch: 256, Err: oom},
			"allocate a 256×512 activation buffer (batch 256): cuda: out of memory; try a smaller --batch"},
		{&autoencoder.InputWidthError{Source: "d.csv", Cols: 6, Input: 7},
			"d.csv has 6 columns but the layers start at 7: use --layers 6,… (the first width is the data width)"},
		{&autoencoder.ResumeModeError{Dir: "m", Streamed: true}, "m was trained with --stream; resume it with --stream"},
		{&autoencoder.ResumeModeError{Dir: "m"}, "m was not trained with --stream; resume it without --stream"},
		{&autoencoder.KLActivationError{Layer: "encoder.2", Act: engine.ReLU},
			"the KL sparsity penalty needs sigmoid units, layer encoder.2 is relu: use a sigmoid activation, or --sparsity-beta 0 with --l1"},
		{&autoencoder.LayerIndexError{Part: "encoder", Have: []int{0, 2}, Want: []int{0, 1}, Hidden: engine.Linear},
			"the file's encoder Linear layers are at nn.Sequential indices [0 2], the hidden activation linear puts them at [0 1] " +
				"(an activation other than linear is a module between Linear layers): give the hidden activation the model was trained with (--hidden)"},
		{&autoencoder.EncoderOnlyError{Model: "m", Source: "w.safetensors", Op: "reconstruct"},
			"m is an encoder-only model (w.safetensors): it has no decoder, so it cannot reconstruct; it can only encode (aegpu encode). " +
				"For a model with a decoder, export the original model without --encoder-only and import that file"},
		{&autoencoder.EncoderOnlyError{Model: "m", Op: "be trained", Resume: true},
			"m is an encoder-only model: it has no decoder, so it cannot be trained; it can only encode (aegpu encode). " +
				"Resume the original model's directory instead, or train a new model (aegpu train)"},
		{&dataset.NonFiniteError{Path: "x.csv", Row: 1, Col: 1, Value: float32(math.NaN()), Line: 3, Column: "b"},
			`read x.csv: row 1, column 1 (0-based), line 3 field 2 "b": value is NaN; use --nan skip to drop rows with NaN/Inf or --nan zero to replace them with 0`},
		{&dataset.NonFiniteError{Path: "x.npy", Row: 4, Col: 0, Value: float32(math.Inf(-1))},
			"read x.npy: row 4, column 0 (0-based): value is -Inf; use --nan skip to drop rows with NaN/Inf or --nan zero to replace them with 0"},
		{&engine.PrecisionError{Precision: engine.TF32, Reason: "the cpu backend computes in fp32"},
			"--precision tf32 needs a GPU with tensor cores (compute capability ≥ 8.0); the cpu backend computes in fp32"},
	} {
		wrapped := &exitError{code: 3, err: fmt.Errorf("load: %w", c.err)}
		got := flagAdvice(wrapped)
		if got.Error() != "load: "+c.want {
			t.Errorf("%T:\n got %s\nwant load: %s", c.err, got, c.want)
		}
		var ee *exitError
		if !errors.As(got, &ee) || ee.code != 3 || !errors.Is(got, c.err) {
			t.Errorf("%T: the reworded error lost its chain", c.err)
		}
	}
	plain := errors.New("nothing to reword")
	if flagAdvice(plain) != plain || flagAdvice(nil) != nil {
		t.Error("flagAdvice changed an error with nothing to reword")
	}
}
