package autoencoder

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/safetensors"
)

// failingAlloc is a backend whose allocations fail once fail is set.
type failingAlloc struct {
	engine.Backend
	fail bool
}

var errNoMemory = errors.New("out of device memory")

func (f *failingAlloc) Alloc(rows, cols int) (engine.Matrix, error) {
	if f.fail {
		return engine.Matrix{}, errNoMemory
	}
	return f.Backend.Alloc(rows, cols)
}

// The errors a setting fixes are values that name the setting in the
// library's terms (the Go fields and functions), never a CLI flag, and
// carry what a front end needs to say it its own way.
func TestSettingErrorsInAPIWords(t *testing.T) {
	b := cpu(t)
	t.Run("input width", func(t *testing.T) { inputWidthErrorInAPIWords(t, b) })
	t.Run("batch memory", func(t *testing.T) { batchMemoryErrorInAPIWords(t, b) })
	t.Run("KL on non-sigmoid units", func(t *testing.T) { klActivationErrorInAPIWords(t, b) })
	t.Run("resume mode", func(t *testing.T) { resumeModeErrorInAPIWords(t, b) })
	t.Run("layer indices", func(t *testing.T) { layerIndexErrorInAPIWords(t, b) })
	t.Run("encoder-only", encoderOnlyErrorInAPIWords)
}

// noFlag fails t if err names a CLI flag.
func noFlag(t *testing.T, err error) {
	t.Helper()
	if strings.Contains(err.Error(), "--") {
		t.Errorf("%q names a flag", err)
	}
}

// inputWidthErrorInAPIWords: a data width other than the first layer's is
// an InputWidthError.
func inputWidthErrorInAPIWords(t *testing.T, b engine.Backend) {
	opts := fitOpts(t, b, "")
	opts.Arch.Layers = []int{7, 4, 2}
	_, err := NewRun(opts)
	var we *InputWidthError
	if !errors.As(err, &we) || we.Cols != 8 || we.Input != 7 || we.Source != "toy" ||
		err.Error() != "toy has 8 columns but the layers start at 7: set Arch.Layers[0] to 8 (the first width is the data width)" {
		t.Fatalf("NewRun with a 7-wide input on 8 columns: %v", err)
	}
	noFlag(t, err)
}

// batchMemoryErrorInAPIWords: a batch that does not fit in device memory
// is a BatchMemoryError.
func batchMemoryErrorInAPIWords(t *testing.T, b engine.Backend) {
	fb := &failingAlloc{Backend: b}
	m, err := NewModel(fb, Arch{Layers: []int{8, 4, 2}, Hidden: engine.ReLU, Output: engine.Linear})
	must(t, err)
	defer m.Free()
	fb.fail = true
	_, err = NewTrainer(m, fitOpts(t, b, "").Train, make([]float32, 64*8), nil, 8)
	var me *BatchMemoryError
	if !errors.As(err, &me) || me.Batch != 32 || !errors.Is(err, errNoMemory) ||
		!strings.Contains(err.Error(), "out of device memory; try a smaller batch (TrainConfig.Batch") {
		t.Fatalf("NewTrainer without memory: %v", err)
	}
	noFlag(t, err)
}

// klActivationErrorInAPIWords: KL sparsity on units that are not sigmoids
// is a KLActivationError.
func klActivationErrorInAPIWords(t *testing.T, b engine.Backend) {
	m, err := NewModel(b, Arch{Layers: []int{8, 4, 2}, Hidden: engine.ReLU, Latent: engine.ReLU, Output: engine.Linear})
	must(t, err)
	defer m.Free()
	cfg := fitOpts(t, b, "").Train
	cfg.Kind, cfg.SparsityBeta, cfg.SparsityTarget = "sparse", 1, 0.05
	_, err = NewTrainer(m, cfg, make([]float32, 64*8), nil, 8)
	var ke *KLActivationError
	if !errors.As(err, &ke) || ke.Act != engine.ReLU || ke.Layer != "encoder.2" ||
		!strings.HasSuffix(err.Error(), "use a sigmoid activation, or TrainConfig.SparsityBeta 0 with SparsityL1") {
		t.Fatalf("KL sparsity on relu units: %v", err)
	}
	noFlag(t, err)
}

// resumeModeErrorInAPIWords: resuming an in-memory run as a streamed one,
// or the other way round, is a ResumeModeError.
func resumeModeErrorInAPIWords(t *testing.T, b engine.Backend) {
	dir := t.TempDir()
	mem := filepath.Join(dir, "mem")
	opts := fitOpts(t, b, mem)
	opts.Train.Epochs = 1
	r, err := NewRun(opts)
	must(t, err)
	must(t, r.Train(context.Background()))
	r.Close()
	paths, _ := writeParts(t, dir, 60, 8)
	_, err = ResumeStreamRun(mem, paths, b, 0, nil, nil)
	var re *ResumeModeError
	if !errors.As(err, &re) || re.Streamed || re.Dir != mem || !strings.Contains(err.Error(), "resume it with ResumeRun") {
		t.Fatalf("ResumeStreamRun of an in-memory run: %v", err)
	}
	noFlag(t, err)

	streamed := filepath.Join(dir, "streamed")
	opts.Dir = streamed
	sr, err := NewStreamRun(opts, paths, 20)
	must(t, err)
	must(t, sr.Train(context.Background()))
	sr.Close()
	_, err = ResumeRun(streamed, opts.Data, b, 0, nil, nil)
	if !errors.As(err, &re) || !re.Streamed || !strings.Contains(err.Error(), "resume it with ResumeStreamRun") {
		t.Fatalf("ResumeRun of a streamed run: %v", err)
	}
	noFlag(t, err)
}

// layerIndexErrorInAPIWords: importing with the wrong hidden activation is
// a LayerIndexError.
func layerIndexErrorInAPIWords(t *testing.T, b engine.Backend) {
	m, err := NewModel(b, Arch{Layers: []int{6, 4, 2}, Hidden: engine.ReLU, Output: engine.Linear})
	must(t, err)
	defer m.Free()
	ts, err := m.ExportTensors(false)
	must(t, err)
	tm := map[string]safetensors.Tensor{}
	for _, x := range ts {
		tm[x.Name] = x
	}
	_, err = Import(filepath.Join(t.TempDir(), "imp"), tm, Arch{Layers: []int{6, 4, 2}, Hidden: engine.Linear, Output: engine.Linear}, dataset.Scaler{}, "w.safetensors", b)
	var le *LayerIndexError
	if !errors.As(err, &le) || le.Part != "encoder" || le.Hidden != engine.Linear ||
		!strings.HasSuffix(err.Error(), "set Arch.Hidden to the activation the model was trained with") {
		t.Fatalf("Import with the wrong hidden activation: %v", err)
	}
	noFlag(t, err)
}

// encoderOnlyErrorInAPIWords: the messages of EncoderOnlyError.
func encoderOnlyErrorInAPIWords(t *testing.T) {
	for _, e := range []*EncoderOnlyError{
		{Model: "m", Op: "reconstruct"},
		{Model: "m", Op: "be trained", Resume: true},
	} {
		want := "Model.ExportTensors(false)"
		if e.Resume {
			want = "(ResumeRun), or train a new model (NewRun)"
		}
		if !strings.HasPrefix(e.Error(), "m is an encoder-only model: it has no decoder, so it cannot "+e.Op+"; it can only encode (Predictor.Encode). ") ||
			!strings.Contains(e.Error(), want) {
			t.Errorf("%+v: %v", e, e)
		}
		noFlag(t, e)
	}
}
