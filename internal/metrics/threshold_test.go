package metrics

import (
	"math"
	"strings"
	"testing"
)

func TestParseThresholdFit(t *testing.T) {
	errs := []float64{2, 4, 4, 4, 5, 5, 7, 9} // mean 5, std 2, median 4.5
	// |dev from 4.5| = 2.5 .5 .5 .5 .5 .5 2.5 4.5 → median 0.5 → MAD 0.7413
	cases := []struct {
		spec  string
		canon string
		want  float64
	}{
		{"0.035", "0.035", 0.035},
		{"  -1e-3 ", "-0.001", -0.001},
		{"mean", "mean", 5},
		{"mean+3std", "mean+3std", 11},
		{"MEAN+2.5STD", "mean+2.5std", 10},
		{"mean+std", "mean+1std", 7},
		{"mean+0std", "mean", 5},
		{"median", "median", 4.5},
		{"median+3mad", "median+3mad", 4.5 + 3*0.5*1.4826},
		{"median+mad", "median+1mad", 4.5 + 0.5*1.4826},
		{"q0.5", "q0.5", 4.5},
		{"q1", "q1", 9},
		{"q0", "q0", 2},
		{"q0.99", "q0.99", 9 - 0.07*2}, // h = 6.93 → 7 + 0.93·2
		{"p99", "q0.99", 9 - 0.07*2},
		{"p50", "q0.5", 4.5},
		{"p100", "q1", 9},
		{"contamination=0.5", "contamination=0.5", 4.5},
		{"contamination=0.01", "contamination=0.01", 9 - 0.07*2},
	}
	for _, c := range cases {
		r, err := ParseThreshold(c.spec)
		if err != nil {
			t.Errorf("ParseThreshold(%q): %v", c.spec, err)
			continue
		}
		if got := r.String(); got != c.canon {
			t.Errorf("ParseThreshold(%q).String() = %q, want %q", c.spec, got, c.canon)
		}
		if got := r.Fit(errs); !near(got, c.want, 1e-12) { // a few O(10) flops
			t.Errorf("%q.Fit = %v, want %v", c.spec, got, c.want)
		}
		// Round trip.
		r2, err := ParseThreshold(r.String())
		if err != nil || r2 != r {
			t.Errorf("round trip of %q: %+v, %v; want %+v", c.spec, r2, err, r)
		}
		if r.IsFixed() != (c.canon == "0.035" || c.canon == "-0.001") {
			t.Errorf("%q: IsFixed = %v", c.spec, r.IsFixed())
		}
	}
}

func TestRuleRoundTripOddValues(t *testing.T) {
	rules := []Rule{
		{kind: ruleFixed, param: 1e-300},
		{kind: ruleFixed, param: 0.1 + 0.2},
		{kind: ruleMeanStd, param: 1e-7},
		{kind: ruleMedianMAD, param: 123456.789},
		{kind: ruleQuantile, param: 1.0 / 3},
		{kind: ruleContamination, param: 1e-9},
		{},
	}
	for _, r := range rules {
		r2, err := ParseThreshold(r.String())
		if err != nil || r2 != r {
			t.Errorf("round trip %q: %+v, %v", r.String(), r2, err)
		}
	}
}

func TestParseThresholdErrors(t *testing.T) {
	for _, spec := range []string{
		"", "   ", "abc", "nan", "inf", "-Inf", "mean+", "mean+3", "mean+3mad", "mean-3std",
		"mean+-1std", "mean+xstd", "median+3std", "median+-2mad", "q", "q1.5", "q-0.1",
		"p101", "p-1", "pxx", "contamination=0", "contamination=0.6", "contamination=",
		"contamination=abc", "3std", "0.5.5",
	} {
		_, err := ParseThreshold(spec)
		if err == nil {
			t.Errorf("ParseThreshold(%q): no error", spec)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "\""+spec+"\"") || !strings.Contains(msg, "accepted forms") ||
			!strings.Contains(msg, "mean+3std") {
			t.Errorf("ParseThreshold(%q): unhelpful error %q", spec, msg)
		}
	}
}

func TestContaminationRule(t *testing.T) {
	r, err := ContaminationRule(0.1)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float64, 101)
	for i := range v {
		v[i] = float64(100 - i) // 0..100
	}
	if got := r.Fit(v); !near(got, 90, 1e-12) { // 0.9-quantile of 0..100
		t.Errorf("Fit = %v", got)
	}
	if Confusion(v, make([]bool, len(v)), r.Fit(v)).FP != 10 { // 91..100
		t.Error("contamination 0.1 does not flag 10 of 101")
	}
	for _, q := range []float64{0, -0.1, 0.51, 1, math.NaN(), math.Inf(1)} {
		if _, err := ContaminationRule(q); err == nil {
			t.Errorf("ContaminationRule(%v): no error", q)
		}
	}
	if _, err := ContaminationRule(0.5); err != nil {
		t.Errorf("ContaminationRule(0.5): %v", err)
	}
}

func TestFixedRuleAndDegenerateFit(t *testing.T) {
	r, err := FixedRule(0.25)
	if err != nil || r.Fit(nil) != 0.25 || r.String() != "0.25" {
		t.Errorf("FixedRule: %v %v %v", r, err, r.Fit(nil))
	}
	if _, err := FixedRule(math.NaN()); err == nil {
		t.Error("FixedRule(NaN): no error")
	}
	var zero Rule
	if zero.Fit([]float64{1, 2}) != 0 || zero.String() != "0" {
		t.Error("zero Rule is not the fixed threshold 0")
	}
	for _, spec := range []string{"mean+3std", "median+3mad", "q0.9", "contamination=0.1"} {
		r, _ := ParseThreshold(spec)
		if got := r.Fit(nil); !math.IsNaN(got) {
			t.Errorf("%s.Fit(empty) = %v, want NaN", spec, got)
		}
		if got := r.Fit([]float64{1, math.NaN()}); !math.IsNaN(got) {
			t.Errorf("%s.Fit(with NaN) = %v, want NaN", spec, got)
		}
		if got := r.Fit([]float64{3, 3, 3}); got != 3 { // constant sample: spread 0
			t.Errorf("%s.Fit(constant) = %v, want 3", spec, got)
		}
	}
}
