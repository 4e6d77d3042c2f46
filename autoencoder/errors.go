package autoencoder

import (
	"errors"
	"fmt"

	"github.com/aegpu/aegpu/engine"
)

// Errors that a setting fixes. Each one says what to change in the
// library's own terms (the fields of Arch, TrainConfig, the functions to
// call) and carries the values, so that a front end can say it in its own
// (cmd/aegpu names its flags). Those with advice have Detail: the error
// without it.

// BatchMemoryError is the failure to allocate a batch's activations on
// the device: a smaller batch needs less.
type BatchMemoryError struct {
	Rows, Cols int   // the buffer that could not be allocated
	Batch      int   // rows per batch (TrainConfig.Batch, or NewPredictor's batch)
	Err        error // the backend's error
}

// Detail is the error without the advice.
func (e *BatchMemoryError) Detail() string {
	return fmt.Sprintf("allocate a %d×%d activation buffer (batch %d): %v", e.Rows, e.Cols, e.Batch, e.Err)
}

func (e *BatchMemoryError) Error() string {
	return e.Detail() + "; try a smaller batch (TrainConfig.Batch; NewPredictor's batch)"
}

func (e *BatchMemoryError) Unwrap() error { return e.Err }

// InputWidthError is data whose width is not the model's input width
// (Arch.Layers[0]).
type InputWidthError struct {
	Source string // the data's name
	Cols   int    // the data's columns
	Input  int    // Arch.Layers[0]
}

// Detail is the error without the advice.
func (e *InputWidthError) Detail() string {
	return fmt.Sprintf("%s has %d columns but the layers start at %d", e.Source, e.Cols, e.Input)
}

func (e *InputWidthError) Error() string {
	return fmt.Sprintf("%s: set Arch.Layers[0] to %d (the first width is the data width)", e.Detail(), e.Cols)
}

// ResumeModeError is a resume that does not read the data the way the run
// did: ResumeRun of a run streamed from disk (NewStreamRun), or
// ResumeStreamRun of one trained in memory (NewRun).
type ResumeModeError struct {
	Dir      string
	Streamed bool // the run was streamed (and must be resumed with ResumeStreamRun)
}

func (e *ResumeModeError) Error() string {
	if e.Streamed {
		return fmt.Sprintf("%s was trained streamed from disk (NewStreamRun); resume it with ResumeStreamRun", e.Dir)
	}
	return fmt.Sprintf("%s was trained on data in memory (NewRun), not streamed; resume it with ResumeRun", e.Dir)
}

// KLActivationError is a sparse model's KL sparsity penalty on a layer
// whose units are not sigmoids (the penalty needs activations in (0, 1)).
type KLActivationError struct {
	Layer string     // the layer's name, e.g. "encoder.2"
	Act   engine.Act // its activation
}

// Detail is the error without the advice.
func (e *KLActivationError) Detail() string {
	return fmt.Sprintf("the KL sparsity penalty needs sigmoid units, layer %s is %s", e.Layer, e.Act)
}

func (e *KLActivationError) Error() string {
	return e.Detail() + ": use a sigmoid activation, or TrainConfig.SparsityBeta 0 with SparsityL1"
}

// LayerIndexError is an import whose tensors' Linear layers sit at other
// nn.Sequential indices than Arch puts them: the hidden activation decides
// the indices (every activation but linear is a module between two Linear
// layers), so Arch.Hidden is not the one the model was trained with.
type LayerIndexError struct {
	Part       string     // "encoder" or "decoder"
	Have, Want []int      // the file's indices, Arch's
	Hidden     engine.Act // Arch.Hidden
}

// Detail is the error without the advice.
func (e *LayerIndexError) Detail() string {
	return fmt.Sprintf("the file's %s Linear layers are at nn.Sequential indices %v, the hidden activation %s puts them at %v "+
		"(an activation other than linear is a module between Linear layers)", e.Part, e.Have, e.Hidden, e.Want)
}

func (e *LayerIndexError) Error() string {
	return e.Detail() + ": set Arch.Hidden to the activation the model was trained with"
}

// ErrInterrupted is returned by Train when its context was cancelled: the
// current step finished and a checkpoint was saved.
var ErrInterrupted = errors.New("training interrupted")

// NaNError reports a training loss that became NaN or infinite. Training
// stops without saving: what the model directory held stays.
type NaNError struct {
	Epoch    int   // 1-based epoch in which it was seen
	Step     int64 // optimizer steps done when it was seen
	LastGood int64 // the last step at which the loss was read finite
	// Saved: a checkpoint of this run (or the one it resumed from) is
	// kept, after LastSaved epochs and SavedBatch batches of the next,
	// at step SavedStep. LastSaved is 0 when nothing was saved.
	Saved      bool
	LastSaved  int
	SavedBatch int
	SavedStep  int64
	// Dir is the model directory ("" for none). When no checkpoint was
	// saved, Kept says what it holds: "absent" (it was not created),
	// "empty", "leftovers" (files of an earlier failed run) or "earlier
	// model" (the model it held before the run, unchanged).
	Dir, Kept string
}

// Detail is the error without the advice: what happened and what was kept.
func (e *NaNError) Detail() string {
	what := fmt.Sprintf("training loss became NaN/Inf in epoch %d, between steps %d and %d", e.Epoch, e.LastGood+1, e.Step)
	in := ""
	if e.Dir != "" {
		in = " in " + e.Dir
	}
	switch {
	case e.Saved:
		at := fmt.Sprintf("after epoch %d (step %d)", e.LastSaved, e.SavedStep)
		if e.SavedBatch > 0 {
			at = fmt.Sprintf("in epoch %d at batch %d (step %d)", e.LastSaved+1, e.SavedBatch, e.SavedStep)
		}
		return fmt.Sprintf("%s; the last good checkpoint, saved %s, is kept%s", what, at, in)
	case e.Dir == "":
		return what + "; nothing was saved"
	case e.Kept == "absent":
		return fmt.Sprintf("%s; no checkpoint was saved: %s was not created", what, e.Dir)
	case e.Kept == "empty":
		return fmt.Sprintf("%s; no checkpoint was saved: %s is still empty", what, e.Dir)
	case e.Kept == "earlier model":
		return fmt.Sprintf("%s; no checkpoint of this run was saved: %s still holds the model it held before, not this run's", what, e.Dir)
	default:
		return fmt.Sprintf("%s; no checkpoint was saved%s", what, in)
	}
}

func (e *NaNError) Error() string {
	return e.Detail() + " — try a lower learning rate or gradient clipping"
}

// nanError is the *NaNError of epoch e (0-based).
func (t *Trainer) nanError(e int, lastGood int64) *NaNError {
	ne := &NaNError{Epoch: e + 1, Step: t.State.Step, LastGood: lastGood}
	if s := t.lastSave; s != nil {
		ne.Saved, ne.LastSaved, ne.SavedBatch, ne.SavedStep = true, s.Epoch, s.Batch, s.Step
	}
	return ne
}
