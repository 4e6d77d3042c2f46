package autoencoder

import (
	"fmt"
	"time"
)

// EpochMetrics is one line of metrics.jsonl.
type EpochMetrics struct {
	Epoch         int      `json:"epoch"`
	Step          int64    `json:"step"`
	TrainLoss     float64  `json:"train_loss"`
	ValLoss       *float64 `json:"val_loss,omitempty"`
	LR            float64  `json:"lr"`
	Seconds       float64  `json:"seconds"`
	SamplesPerSec float64  `json:"samples_per_sec"`
	Best          bool     `json:"best,omitempty"`
	// Denoising models: validation MSE of the corrupted input and of the
	// reconstruction against the clean rows, and their PSNR in dB (for
	// data in [0,1]: 10·log10(1/MSE)).
	ValNoisyMSE     *float64 `json:"val_noisy_mse,omitempty"`
	ValDenoisedMSE  *float64 `json:"val_denoised_mse,omitempty"`
	ValPSNRNoisy    *float64 `json:"val_psnr_noisy_db,omitempty"`
	ValPSNRDenoised *float64 `json:"val_psnr_denoised_db,omitempty"`
	// Sparse and contractive models (and any with L2): the mean penalty
	// added to the training objective (train_loss + train_penalty is the
	// objective minimised).
	TrainPenalty *float64 `json:"train_penalty,omitempty"`
	// Sparse models: each penalized layer's mean activation per unit on
	// the validation rows, and its mean over the units.
	MeanActivation    map[string][]float64 `json:"mean_activation,omitempty"`
	MeanActivationAvg *float64             `json:"mean_activation_avg,omitempty"`
	// VAEs: the mean KL divergence per row (nats) and the β in force at
	// the epoch's end.
	TrainKL *float64 `json:"train_kl,omitempty"`
	KLBeta  *float64 `json:"kl_beta,omitempty"`
}

// State is the trainer's position, saved in checkpoints so a resumed run
// continues exactly where the interrupted one stopped.
type State struct {
	Epoch        int            `json:"epoch"`                   // epochs completed
	Batch        int            `json:"batch"`                   // batches done in the current epoch
	Step         int64          `json:"step"`                    // optimizer steps done
	EpochLoss    float32        `json:"epoch_loss"`              // the device loss accumulator mid-epoch
	EpochPen     float32        `json:"epoch_penalty,omitempty"` // the penalty accumulator mid-epoch
	EpochKL      float32        `json:"epoch_kl,omitempty"`      // a VAE's KL accumulator mid-epoch
	EpochSecs    float64        `json:"epoch_secs"`              // time spent in the current epoch so far
	BestVal      float64        `json:"best_val"`                // best validation loss (when BestEpoch > 0)
	BestEpoch    int            `json:"best_epoch"`              // epoch of BestVal
	BadEpochs    int            `json:"bad_epochs"`              // epochs since BestVal improved
	Finished     bool           `json:"finished"`                // the run completed
	StopReason   string         `json:"stop_reason"`             // "", "epochs", "early_stopping", "time"
	Metrics      []EpochMetrics `json:"metrics"`
	TrainSeconds float64        `json:"train_seconds"`
}

// pause records the mid-epoch position before an interrupted run saves.
func (t *Trainer) pause(epochStart time.Time, rc *runClock) error {
	var err error
	if t.State.EpochLoss, err = t.globalScalar(t.obj.sum); err != nil {
		return err
	}
	if t.State.EpochPen, err = t.globalScalar(t.obj.pen); err != nil {
		return err
	}
	if t.State.EpochKL, err = t.globalScalar(t.obj.kl); err != nil {
		return err
	}
	t.State.EpochSecs = time.Since(epochStart).Seconds()
	t.State.TrainSeconds = rc.prevSecs + time.Since(rc.start).Seconds()
	return nil
}

// BestParams is the host copy of the parameters at the best validation
// epoch so far (nil before one).
func (t *Trainer) BestParams() []float32 { return t.best }

// SetBestParams restores the best-epoch copy (used when resuming).
func (t *Trainer) SetBestParams(p []float32) { t.best = p }

// OptimizerState downloads the optimizer's moment buffers (s2 is nil for SGD).
func (t *Trainer) OptimizerState() (s1, s2 []float32, err error) {
	b := t.Model.Backend
	s1 = make([]float32, t.opt.s1.Len())
	if err = b.Download(s1, t.opt.s1); err != nil {
		return nil, nil, err
	}
	if !t.opt.s2.Empty() {
		s2 = make([]float32, t.opt.s2.Len())
		if err = b.Download(s2, t.opt.s2); err != nil {
			return nil, nil, err
		}
	}
	return s1, s2, nil
}

// SetOptimizerState uploads saved moment buffers.
func (t *Trainer) SetOptimizerState(s1, s2 []float32) error {
	b := t.Model.Backend
	if len(s1) != t.opt.s1.Len() || (!t.opt.s2.Empty() && len(s2) != t.opt.s2.Len()) {
		return fmt.Errorf("optimizer state has %d/%d values, the model needs %d", len(s1), len(s2), t.opt.s1.Len())
	}
	if err := b.Upload(t.opt.s1, s1); err != nil {
		return err
	}
	if !t.opt.s2.Empty() {
		return b.Upload(t.opt.s2, s2)
	}
	return nil
}

// Benchmark runs steps optimizer steps on one batch already resident on the
// device (uploaded once from the first rows of the training data), with no
// host transfer or loss read inside the loop, and waits for the device at
// the end: the timing protocol of bench/README.md.
func (t *Trainer) Benchmark(steps int) error {
	n := min(t.ws.batch, t.in.nTrain)
	if t.State.Step == 0 {
		if err := t.in.src.Epoch(0, 0); err != nil {
			return err
		}
		if err := t.next(n); err != nil {
			return err
		}
	}
	for i := 0; i < steps; i++ {
		if err := t.step(n, t.Cfg.LR); err != nil {
			return err
		}
		t.State.Step++
	}
	return t.Model.Backend.Sync()
}
