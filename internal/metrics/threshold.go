package metrics

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ruleKind says how a Rule derives its threshold.
type ruleKind uint8

const (
	ruleFixed         ruleKind = iota // value
	ruleMeanStd                       // mean + k·std
	ruleMedianMAD                     // median + k·MAD
	ruleQuantile                      // Quantile(q)
	ruleContamination                 // Quantile(1 − q)
)

// Rule turns a sample of reconstruction errors (normally those of the
// training or validation set, assumed mostly normal) into an anomaly
// threshold: a sample is flagged when its error is strictly greater than the
// threshold (see Confusion).
//
// The forms, as accepted by ParseThreshold and written by String:
//
//	0.035          a fixed threshold (any finite number)
//	mean           the mean of the errors
//	mean+3std      mean + k·std (k ≥ 0; std is the population std, see MeanStd)
//	median+3mad    median + k·MAD (k ≥ 0; MAD is scaled by 1.4826, see MAD)
//	q0.99          the 0.99-quantile (q in [0, 1]; linear, see Quantile)
//	p99            the same as a percentile (p in [0, 100])
//	contamination=0.05
//	               the (1 − 0.05)-quantile: about 5% of the sample is
//	               flagged (q in (0, 0.5]; see ContaminationRule)
//
// The zero Rule is the fixed threshold 0.
type Rule struct {
	kind  ruleKind
	param float64 // the value, k, or q
}

// acceptedForms is appended to every parse error.
const acceptedForms = `accepted forms: a number (e.g. 0.035), "mean", "mean+3std", "median+3mad", "q0.99", "p99", "contamination=0.05"`

// FixedRule returns the rule whose threshold is v whatever the errors. v
// must be finite.
func FixedRule(v float64) (Rule, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return Rule{}, fmt.Errorf("metrics: fixed threshold %v is not finite", v)
	}
	return Rule{kind: ruleFixed, param: v}, nil
}

// ContaminationRule returns the rule for an expected anomaly fraction q:
// the threshold is the (1 − q)-quantile of the errors, so that a fraction of
// about q of them lies above it. q must be in (0, 0.5].
func ContaminationRule(q float64) (Rule, error) {
	if !(q > 0 && q <= 0.5) {
		return Rule{}, fmt.Errorf("metrics: contamination %v is outside (0, 0.5]", q)
	}
	return Rule{kind: ruleContamination, param: q}, nil
}

// ParseThreshold parses a threshold rule in one of the forms listed on Rule.
// Surrounding spaces and letter case are ignored; "mean+std" means
// "mean+1std" and "median+mad" means "median+1mad". The error names the spec
// and lists the accepted forms.
func ParseThreshold(spec string) (Rule, error) {
	r, err := parseRule(strings.ToLower(strings.TrimSpace(spec)))
	if err != nil {
		return Rule{}, fmt.Errorf("metrics: threshold rule %q: %v; %s", spec, err, acceptedForms)
	}
	return r, nil
}

func parseRule(s string) (Rule, error) {
	switch {
	case s == "":
		return Rule{}, fmt.Errorf("empty")
	case s == "mean":
		return Rule{kind: ruleMeanStd}, nil
	case s == "median":
		return Rule{kind: ruleMedianMAD}, nil
	case strings.HasPrefix(s, "mean+"):
		k, err := parseK(s, "mean+", "std")
		return Rule{kind: ruleMeanStd, param: k}, err
	case strings.HasPrefix(s, "median+"):
		k, err := parseK(s, "median+", "mad")
		return Rule{kind: ruleMedianMAD, param: k}, err
	case strings.HasPrefix(s, "contamination="):
		q, err := parseNum(strings.TrimPrefix(s, "contamination="))
		if err != nil {
			return Rule{}, err
		}
		if !(q > 0 && q <= 0.5) {
			return Rule{}, fmt.Errorf("contamination %v is outside (0, 0.5]", q)
		}
		return Rule{kind: ruleContamination, param: q}, nil
	case strings.HasPrefix(s, "q"):
		q, err := parseNum(s[1:])
		if err != nil {
			return Rule{}, err
		}
		if !(q >= 0 && q <= 1) {
			return Rule{}, fmt.Errorf("quantile %v is outside [0, 1]", q)
		}
		return Rule{kind: ruleQuantile, param: q}, nil
	case strings.HasPrefix(s, "p"):
		p, err := parseNum(s[1:])
		if err != nil {
			return Rule{}, err
		}
		if !(p >= 0 && p <= 100) {
			return Rule{}, fmt.Errorf("percentile %v is outside [0, 100]", p)
		}
		return Rule{kind: ruleQuantile, param: p / 100}, nil
	}
	v, err := parseNum(s)
	if err != nil {
		return Rule{}, fmt.Errorf("unrecognised form")
	}
	return Rule{kind: ruleFixed, param: v}, nil
}

// parseK parses the multiplier of "mean+<k>std" / "median+<k>mad".
func parseK(s, prefix, suffix string) (float64, error) {
	body := strings.TrimPrefix(s, prefix)
	if !strings.HasSuffix(body, suffix) {
		return 0, fmt.Errorf("expected %s<k>%s", prefix, suffix)
	}
	num := strings.TrimSuffix(body, suffix)
	if num == "" {
		return 1, nil
	}
	k, err := parseNum(num)
	if err != nil {
		return 0, err
	}
	if k < 0 {
		return 0, fmt.Errorf("multiplier %v is negative", k)
	}
	return k, nil
}

// parseNum parses a finite decimal number.
func parseNum(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a finite number", s)
	}
	return v, nil
}

// String returns the rule in the canonical form of ParseThreshold, so that
// ParseThreshold(r.String()) returns r.
func (r Rule) String() string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	switch r.kind {
	case ruleMeanStd:
		if r.param == 0 {
			return "mean"
		}
		return "mean+" + f(r.param) + "std"
	case ruleMedianMAD:
		if r.param == 0 {
			return "median"
		}
		return "median+" + f(r.param) + "mad"
	case ruleQuantile:
		return "q" + f(r.param)
	case ruleContamination:
		return "contamination=" + f(r.param)
	default:
		return f(r.param)
	}
}

// IsFixed reports whether the rule ignores the errors it is fitted on.
func (r Rule) IsFixed() bool { return r.kind == ruleFixed }

// Fit returns the threshold the rule derives from errors. A fixed rule
// returns its value whatever errors holds; the other rules return NaN when
// errors is empty or contains a NaN. errors is not modified.
func (r Rule) Fit(errors []float64) float64 {
	switch r.kind {
	case ruleMeanStd:
		m, s := MeanStd(errors)
		if r.param == 0 {
			return m // avoids 0·Inf
		}
		return m + r.param*s
	case ruleMedianMAD:
		m := median(errors)
		if r.param == 0 {
			return m
		}
		return m + r.param*MAD(errors)
	case ruleQuantile:
		return Quantile(errors, r.param)
	case ruleContamination:
		return Quantile(errors, 1-r.param)
	default:
		return r.param
	}
}
