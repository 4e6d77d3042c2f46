// Package metrics holds the statistics used to score an anomaly detector
// built on reconstruction error: ranking metrics (ROC-AUC, average
// precision), confusion counts at a threshold, quantiles and moments, and the
// threshold rules that turn a sample of "normal" reconstruction errors into a
// decision threshold (see ParseThreshold).
//
// Conventions throughout: a higher score means "more anomalous", and a label
// of true marks a positive (an anomaly). All computations are done in
// float64 and are exact up to rounding; none of them panic on bad input.
package metrics

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// checkScored validates the inputs shared by the ranking metrics and returns
// the number of positives and negatives.
func checkScored(scores []float64, labels []bool) (pos, neg int, err error) {
	if len(scores) != len(labels) {
		return 0, 0, fmt.Errorf("metrics: %d scores but %d labels", len(scores), len(labels))
	}
	if len(scores) == 0 {
		return 0, 0, errors.New("metrics: no scores")
	}
	for i, s := range scores {
		if math.IsNaN(s) {
			return 0, 0, fmt.Errorf("metrics: score %d is NaN", i)
		}
		if labels[i] {
			pos++
		} else {
			neg++
		}
	}
	return pos, neg, nil
}

// ROCAUC returns the area under the ROC curve of scores against labels
// (positives are the true labels; a higher score is more anomalous). Tied
// scores are handled exactly: the result is the Mann–Whitney U statistic
// computed with average ranks, divided by npos·nneg, i.e. the probability
// that a random positive scores above a random negative with ties counted as
// ½. This equals scikit-learn's roc_auc_score.
//
// It returns an error when the lengths differ, the input is empty, a score is
// NaN, or only one class is present (the AUC is then undefined). Infinite
// scores are allowed. Cost: O(n log n).
func ROCAUC(scores []float64, labels []bool) (float64, error) {
	pos, neg, err := checkScored(scores, labels)
	if err != nil {
		return 0, err
	}
	if pos == 0 || neg == 0 {
		return 0, fmt.Errorf("metrics: ROC-AUC needs both classes; got %d positives and %d negatives", pos, neg)
	}
	idx := sortedIndex(scores, false)
	// Sum of the (1-based, tie-averaged) ranks of the positives. Ranks are
	// kept doubled so that every average rank is an integer: a tie group
	// over ranks a..b has average rank (a+b)/2.
	var rankSum2 float64
	for i := 0; i < len(idx); {
		j := i + 1
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		avg2 := float64(i+1) + float64(j) // 2 × average of ranks i+1..j
		for _, t := range idx[i:j] {
			if labels[t] {
				rankSum2 += avg2
			}
		}
		i = j
	}
	p, n := float64(pos), float64(neg)
	u := rankSum2/2 - p*(p+1)/2
	return u / (p * n), nil
}

// AveragePrecision returns the area under the precision–recall curve in the
// step form used by scikit-learn's average_precision_score:
//
//	AP = Σ_n (R_n − R_{n−1}) · P_n
//
// where n runs over the distinct score values taken as thresholds in
// decreasing order (samples with tied scores enter together), and P_n, R_n
// are the precision and recall when every sample scoring ≥ that threshold is
// flagged (R_0 = 0). No interpolation is applied.
//
// It returns an error when the lengths differ, the input is empty, a score is
// NaN, or there is no positive (recall is then undefined). With no negatives
// the result is 1.
func AveragePrecision(scores []float64, labels []bool) (float64, error) {
	pos, _, err := checkScored(scores, labels)
	if err != nil {
		return 0, err
	}
	if pos == 0 {
		return 0, errors.New("metrics: average precision needs at least one positive")
	}
	idx := sortedIndex(scores, true)
	var ap float64
	tp, fp := 0, 0
	prevRecall := 0.0
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			if labels[idx[j]] {
				tp++
			} else {
				fp++
			}
			j++
		}
		recall := float64(tp) / float64(pos)
		precision := float64(tp) / float64(tp+fp)
		ap += (recall - prevRecall) * precision
		prevRecall = recall
		i = j
	}
	return ap, nil
}

// sortedIndex returns the permutation that sorts scores ascending (or
// descending when desc is set). Scores must not be NaN.
func sortedIndex(scores []float64, desc bool) []int {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	if desc {
		sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	} else {
		sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	}
	return idx
}

// Counts are the cells of a binary confusion matrix. "Positive" is the true
// label (an anomaly); a sample is flagged (predicted positive) when its score
// is strictly greater than the threshold.
type Counts struct {
	TP, FP, TN, FN int
}

// Confusion counts flagged (score > threshold) against labels. A NaN score is
// never flagged. Only the first min(len(scores), len(labels)) pairs are
// counted: callers are expected to pass slices of equal length (ROCAUC and
// AveragePrecision report a mismatch as an error).
func Confusion(scores []float64, labels []bool, threshold float64) Counts {
	var c Counts
	n := min(len(scores), len(labels))
	for i := 0; i < n; i++ {
		flagged := scores[i] > threshold
		switch {
		case flagged && labels[i]:
			c.TP++
		case flagged:
			c.FP++
		case labels[i]:
			c.FN++
		default:
			c.TN++
		}
	}
	return c
}

// Total returns the number of samples counted.
func (c Counts) Total() int { return c.TP + c.FP + c.TN + c.FN }

// Precision returns TP/(TP+FP), or 0 when nothing was flagged (TP+FP = 0).
func (c Counts) Precision() float64 {
	if c.TP+c.FP == 0 {
		return 0
	}
	return float64(c.TP) / float64(c.TP+c.FP)
}

// Recall returns TP/(TP+FN), or 0 when there is no positive (TP+FN = 0).
func (c Counts) Recall() float64 {
	if c.TP+c.FN == 0 {
		return 0
	}
	return float64(c.TP) / float64(c.TP+c.FN)
}

// F1 returns the harmonic mean of precision and recall, 2TP/(2TP+FP+FN), or
// 0 when it is undefined (no true positive, in which case both precision and
// recall are 0 or undefined).
func (c Counts) F1() float64 {
	if c.TP == 0 {
		return 0
	}
	return 2 * float64(c.TP) / float64(2*c.TP+c.FP+c.FN)
}

// String formats the counts with precision, recall and F1.
func (c Counts) String() string {
	return fmt.Sprintf("TP=%d FP=%d TN=%d FN=%d precision=%.4f recall=%.4f F1=%.4f",
		c.TP, c.FP, c.TN, c.FN, c.Precision(), c.Recall(), c.F1())
}

// Quantile returns the q-quantile of v by linear interpolation between order
// statistics, the default ("linear", Hyndman–Fan type 7) method of NumPy's
// quantile/percentile: with x the sorted values and h = (n−1)·q, the result
// is x[⌊h⌋] + (h−⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]). q = 0 gives the minimum, q = 1
// the maximum, q = 0.5 the median.
//
// It returns NaN when v is empty, q is outside [0, 1] or NaN, or v contains a
// NaN (as NumPy does). v is not modified.
func Quantile(v []float64, q float64) float64 {
	if len(v) == 0 || !(q >= 0 && q <= 1) {
		return math.NaN()
	}
	s := make([]float64, len(v))
	copy(s, v)
	for _, x := range s {
		if math.IsNaN(x) {
			return math.NaN()
		}
	}
	sort.Float64s(s)
	return quantileSorted(s, q)
}

// quantileSorted is Quantile on already sorted, NaN-free, non-empty data.
func quantileSorted(s []float64, q float64) float64 {
	h := float64(len(s)-1) * q
	lo := int(math.Floor(h))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	t := h - float64(lo)
	a, b := s[lo], s[lo+1]
	if t == 0 {
		return a
	}
	// NumPy's _lerp: interpolate from the nearer end so that the result
	// is exact at t = 1 and monotone in t.
	if t >= 0.5 {
		return b - (b-a)*(1-t)
	}
	return a + (b-a)*t
}

// MeanStd returns the mean and the population standard deviation (ddof 0:
// the sum of squared deviations divided by n, not n−1) of v. It uses the
// corrected two-pass algorithm, so it stays accurate when the mean is large
// compared with the spread. An empty v gives (NaN, NaN); a single value gives
// (v[0], 0). A NaN or infinite element propagates.
func MeanStd(v []float64) (mean, std float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	n := float64(len(v))
	var sum float64
	for _, x := range v {
		sum += x
	}
	mean = sum / n
	var ss, comp float64
	for _, x := range v {
		d := x - mean
		ss += d * d
		comp += d
	}
	// comp is the rounding error of the mean, times n; subtracting
	// comp²/n removes its first-order effect on ss.
	variance := (ss - comp*comp/n) / n
	if variance < 0 {
		variance = 0
	}
	return mean + comp/n, math.Sqrt(variance)
}

// median returns the median of v (NaN when empty); v is not modified.
func median(v []float64) float64 { return Quantile(v, 0.5) }

// madScale makes the median absolute deviation a consistent estimator of the
// standard deviation for normally distributed data (1/Φ⁻¹(3/4)).
const madScale = 1.4826

// MAD returns the scaled median absolute deviation of v:
// 1.4826 · median(|v_i − median(v)|), which estimates the standard deviation
// for normal data while ignoring outliers. It returns NaN when v is empty or
// contains a NaN.
func MAD(v []float64) float64 {
	m := median(v)
	if math.IsNaN(m) {
		return math.NaN()
	}
	dev := make([]float64, len(v))
	for i, x := range v {
		dev[i] = math.Abs(x - m)
	}
	return madScale * median(dev)
}
