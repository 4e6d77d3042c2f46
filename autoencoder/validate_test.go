package autoencoder

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestValidateNumbers: every float setting of TrainConfig is refused when
// NaN, ±Inf or out of its range, naming the field (API words, not CLI
// flags); the defaults and the ends of each range pass.
func TestValidateNumbers(t *testing.T) {
	if err := DefaultTrainConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	inf := math.Inf(1)
	nan := math.NaN()
	ty := reflect.TypeOf(TrainConfig{})
	floats := 0
	for _, f := range reflect.VisibleFields(ty) { // the variants' nested settings too
		if f.Type.Kind() != reflect.Float64 {
			continue
		}
		floats++
		for _, v := range []float64{nan, inf, -inf, -1, 1e300} {
			c := DefaultTrainConfig()
			reflect.ValueOf(&c).Elem().FieldByIndex(f.Index).SetFloat(v)
			err := c.Validate()
			if err == nil {
				t.Errorf("%s = %v accepted", f.Name, v)
				continue
			}
			if !strings.HasPrefix(err.Error(), "TrainConfig."+f.Name+" is ") || strings.Contains(err.Error(), "--") {
				t.Errorf("%s = %v: %v", f.Name, v, err)
			}
		}
	}
	if floats < 17 {
		t.Fatalf("found %d float fields", floats)
	}
	for _, c := range []struct {
		set  func(*TrainConfig)
		want string // "" for valid
	}{
		{func(c *TrainConfig) { c.ValSplit = math.NaN() }, "TrainConfig.ValSplit is NaN: must be a number in [0, 1)"},
		{func(c *TrainConfig) { c.Beta1 = math.NaN() }, "TrainConfig.Beta1 is NaN: must be a number in [0, 1)"},
		{func(c *TrainConfig) { c.Eps = -1 }, "TrainConfig.Eps is -1: must be a number in (0, 1]"},
		{func(c *TrainConfig) { c.Eps = 0 }, "TrainConfig.Eps is 0"},
		{func(c *TrainConfig) { c.Eps = 1 }, ""},
		{func(c *TrainConfig) { c.Beta2 = 0 }, ""},
		{func(c *TrainConfig) { c.ClipNorm = math.NaN() }, "TrainConfig.ClipNorm is NaN"},
		{func(c *TrainConfig) { c.KLWarmup = math.Inf(1) }, "TrainConfig.KLWarmup is +Inf"},
		{func(c *TrainConfig) { c.Gamma = math.Inf(1) }, "TrainConfig.Gamma is +Inf"},
		{func(c *TrainConfig) { c.LR = 1e300 }, "TrainConfig.LR is 1e+300: must be a number in (0, 3.4e+38]"},
		{func(c *TrainConfig) { c.Schedule, c.MinLR = "cosine", -5 }, "TrainConfig.MinLR is -5"},
		{func(c *TrainConfig) { c.Schedule, c.MinLR = "cosine", 0.1 }, "TrainConfig.MinLR 0.1 is above LR 0.001"},
		{func(c *TrainConfig) { c.Schedule, c.MinLR = "cosine", 0.001 }, ""},
		{func(c *TrainConfig) { c.Schedule, c.Gamma = "step", 0 }, "the step schedule needs StepSize ≥ 1 and Gamma > 0"},
		{func(c *TrainConfig) { c.Epochs = 0 }, "TrainConfig.Epochs is 0: must be ≥ 1"},
		{func(c *TrainConfig) { c.Patience = -1 }, "TrainConfig.Patience is -1: must be ≥ 0"},
		{func(c *TrainConfig) { c.Kind, c.Contractive, c.Projections = "contractive", 0.1, 65 }, "TrainConfig.Projections is 65: must be in 0..64"},
		{func(c *TrainConfig) { c.Kind, c.Contractive, c.Projections = "contractive", 0.1, 0 }, ""},
		{func(c *TrainConfig) { c.Kind, c.Contractive = "contractive", 0 }, "a contractive autoencoder needs a penalty weight"},
		{func(c *TrainConfig) { c.Kind, c.SparsityBeta, c.SparsityTarget = "sparse", 1, 1 }, "sparsity target ρ must be in (0, 1)"},
	} {
		cfg := LegacyTrainConfig() // the messages name its values
		c.set(&cfg)
		err := cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", cfg, err)
		case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want)):
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
}

func TestCheckImageShape(t *testing.T) {
	for _, c := range []struct {
		shape []int
		cols  int
		want  string
	}{
		{nil, 8, ""},
		{[]int{2, 4}, 8, ""},
		{[]int{2, 2, 2}, 8, ""},
		{[]int{3, 3}, 8, "image shape [3 3] has 9 values per image (at least), but the data has 8 columns"},
		{[]int{8}, 8, "image shape [8]: want [H W] or [H W C]"},
		{[]int{0, 8}, 8, "image shape [0 8]: each dimension must be in 1..8"},
		{[]int{math.MaxInt / 2, math.MaxInt / 2}, 8, "image shape"}, // the product overflows int on any platform
	} {
		err := CheckImageShape(c.shape, c.cols)
		if (err == nil) != (c.want == "") || err != nil && !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("CheckImageShape(%v, %d) = %v, want %q", c.shape, c.cols, err, c.want)
		}
	}
}
