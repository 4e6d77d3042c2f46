package viz

import (
	"math"
	"strconv"
)

// Num is a float64 that marshals to JSON with 6 significant digits, and to
// null when it is NaN or infinite (which encoding/json refuses).
type Num float64

// MarshalJSON implements json.Marshaler.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', 6, 64), nil
}

// Vec is a float32 vector that marshals to a JSON array with 4 significant
// digits (what a picture needs; it keeps frames small and fast to encode);
// non-finite entries become null.
type Vec []float32

// MarshalJSON implements json.Marshaler.
func (v Vec) MarshalJSON() ([]byte, error) {
	if v == nil {
		return []byte("null"), nil
	}
	b := make([]byte, 0, 2+len(v)*7)
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		f := float64(x)
		switch {
		case math.IsNaN(f) || math.IsInf(f, 0):
			b = append(b, "null"...)
		case x == 0:
			b = append(b, '0')
		default:
			b = strconv.AppendFloat(b, f, 'g', 4, 32)
		}
	}
	return append(b, ']'), nil
}

// Frame is one update pushed to the page over /events (and the "frame" of
// /api/state). Sample, Scatter, Hist and VAE are the snapshot of the model
// at Status.Step; they are absent from frames that carry only progress.
type Frame struct {
	Seq    int64       `json:"seq"`
	Status Status      `json:"status"`
	Loss   []LossPoint `json:"loss"` // the latest points (the whole history in a client's first frame)
	// LossHistory is true when Loss is the whole history (a client's first
	// frame, or after a reset): the page replaces its curve instead of
	// appending.
	LossHistory bool         `json:"loss_history,omitempty"`
	Sample      *SampleView  `json:"sample,omitempty"`
	Scatter     *ScatterView `json:"scatter,omitempty"`
	Hist        *HistView    `json:"hist,omitempty"`
	VAE         *VAEView     `json:"vae,omitempty"`
}

// Status is the training session's state.
type Status struct {
	Running       bool     `json:"running"`
	Gen           int      `json:"gen"`   // counts resets: a new model
	Step          int64    `json:"step"`  // optimizer steps of this model
	Epoch         int      `json:"epoch"` // epochs completed
	Loss          Num      `json:"loss"`  // latest training loss
	ValLoss       Num      `json:"val_loss"`
	StepsPerSec   Num      `json:"steps_per_sec"`
	SamplesPerSec Num      `json:"samples_per_sec"`
	Settings      Settings `json:"settings"`
	Layers        []int    `json:"layers"` // encoder widths, input to latent
	Hidden        string   `json:"hidden"` // activations
	LatentAct     string   `json:"latent_act"`
	Output        string   `json:"output"`
	Params        int      `json:"params"`
	Batch         int      `json:"batch"`
	Selected      int      `json:"selected"` // the data row shown in the sample panels
	Error         string   `json:"error,omitempty"`
	// SnapshotMs is what computing the last snapshot took; IntervalMs the
	// least time between two snapshots (raised so that snapshots take at
	// most a few percent of the training time).
	SnapshotMs Num `json:"snapshot_ms"`
	IntervalMs Num `json:"interval_ms"`
	Clients    int `json:"clients"` // connected pages
	// The best validation loss so far (null before the first epoch ends),
	// the epoch and step it was reached at, and the epochs since then
	// (early stopping ends training when they reach Settings.Patience).
	BestVal   Num   `json:"best_val"`
	BestEpoch int   `json:"best_epoch"`
	BestStep  int64 `json:"best_step"`
	BadEpochs int   `json:"bad_epochs"`
	// StopReason is "early_stopping" when patience ended training (the
	// model then has the weights of BestEpoch again); Stopped says so in
	// words. Start goes on from those weights.
	StopReason string `json:"stop_reason,omitempty"`
	Stopped    string `json:"stopped,omitempty"`
}

// LossPoint is one point of the loss curves. Val is set only on the points
// recorded right after a validation pass.
type LossPoint struct {
	Step  int64 `json:"step"`
	Train Num   `json:"train"`
	Val   *Num  `json:"val,omitempty"`
}

// SampleView is the selected row as the model sees it (in the model's
// scaled space): input, latent code (a VAE's μ), reconstruction, and the
// squared error of each feature.
type SampleView struct {
	Index    int  `json:"index"`
	Label    *int `json:"label,omitempty"`
	Input    Vec  `json:"input"`
	Code     Vec  `json:"code"`
	Recon    Vec  `json:"recon"`
	Error    Vec  `json:"error"`
	RowError Num  `json:"row_error"` // mean of Error
}

// ScatterView places the shown samples (State.ShownRows) in 2-D: the latent
// code itself when it is 2-D, its first two principal components when it is
// wider, and (code, reconstruction error) when it is 1-D.
type ScatterView struct {
	X         Vec    `json:"x"`
	Y         Vec    `json:"y"`
	Axes      string `json:"axes"`                // "latent", "pca" or "latent-error"
	Explained Vec    `json:"explained,omitempty"` // PCA: variance fraction of each axis
}

// HistView is the histogram of the shown samples' reconstruction errors
// (mean squared error per row, in the scaled space) on [Lo, Hi] in
// len(Counts) equal bins, with the anomaly threshold of Rule.
type HistView struct {
	Lo        Num    `json:"lo"`
	Hi        Num    `json:"hi"`
	Counts    []int  `json:"counts"`
	Threshold Num    `json:"threshold"`
	Rule      string `json:"rule"`
	Above     int    `json:"above"` // samples whose error exceeds the threshold
	Mean      Num    `json:"mean"`
}

// VAEView holds a VAE's generated samples (N rows decoded from codes drawn
// once from the prior, so the grid shows the same codes as training goes
// on) and a latent traversal: for each of the first Dims latent units, Steps
// decodes of the selected sample's μ with that unit set to evenly spaced
// values in [−Range, Range]. Rows are in the model's scaled space.
type VAEView struct {
	Samples   Vec `json:"samples"`
	N         int `json:"n"`
	Traversal Vec `json:"traversal"`
	Dims      int `json:"dims"`
	Steps     int `json:"steps"`
	Range     Num `json:"range"`
}
