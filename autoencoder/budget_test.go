package autoencoder

import (
	"context"
	"testing"
)

// TestBudget: a sample budget gives ⌈samples/training rows⌉ epochs, which
// config.json records and the run trains; a time budget measures an epoch
// and gives at least one; a run whose time budget is spent stops after
// the epoch with stop reason "time", which its checkpoint keeps (the
// stopped run resumes as finished).
func TestBudget(t *testing.T) {
	o := fitOpts(t, cpu(t), t.TempDir()) // 300 rows, 270 for training
	o.Budget = &Budget{Samples: 1000}
	r, err := NewRun(o)
	must(t, err)
	if r.Config.Train.Epochs != 4 || r.Trainer.Cfg.Epochs != 4 {
		t.Fatalf("1000 samples of 270 rows: %d epochs (config.json %d), want 4", r.Trainer.Cfg.Epochs, r.Config.Train.Epochs)
	}
	must(t, r.Train(context.Background()))
	if st := r.Trainer.State; st.Epoch != 4 || st.StopReason != "epochs" {
		t.Errorf("trained %d epochs, stop reason %q", st.Epoch, st.StopReason)
	}
	r.Close()

	o = fitOpts(t, cpu(t), t.TempDir())
	o.Budget = &Budget{Seconds: 3600}
	r, err = NewRun(o)
	must(t, err)
	if r.BudgetEpochSeconds <= 0 || r.Config.Train.Epochs < 1 || r.Config.Train.TimeBudget != 3600 {
		t.Errorf("an hour's budget: epoch measured at %v s, %d epochs, time budget %v", r.BudgetEpochSeconds, r.Config.Train.Epochs, r.Config.Train.TimeBudget)
	}
	r.Close()

	dir := t.TempDir()
	o = fitOpts(t, cpu(t), dir)
	o.Train.Epochs, o.Train.TimeBudget = 5, 1e-9 // spent after any epoch
	r, err = NewRun(o)
	must(t, err)
	must(t, r.Train(context.Background()))
	if st := r.Trainer.State; st.Epoch != 1 || st.StopReason != "time" || !st.Finished {
		t.Errorf("a spent time budget: %d epochs, stop reason %q, finished %v", st.Epoch, st.StopReason, st.Finished)
	}
	r.Close()
	r, err = ResumeRun(dir, o.Data, cpu(t), 0, nil, nil)
	must(t, err)
	if st := r.Trainer.State; !st.Finished || st.StopReason != "time" {
		t.Errorf("resumed: finished %v, stop reason %q", st.Finished, st.StopReason)
	}
	r.Close()

	for _, b := range []Budget{{}, {Samples: 5, Seconds: 5}, {Samples: -1}} {
		o = fitOpts(t, cpu(t), "")
		o.Budget = &b
		if r, err := NewRun(o); err == nil {
			r.Close()
			t.Errorf("budget %+v accepted", b)
		}
	}
	o = fitOpts(t, cpu(t), "")
	o.Train.Warmup, o.Budget = 2, &Budget{Samples: 100}
	if r, err := NewRun(o); err == nil {
		r.Close()
		t.Error("a budget of 1 epoch with a warm-up of 2 accepted")
	}
}
