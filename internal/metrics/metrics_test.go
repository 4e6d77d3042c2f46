package metrics

import (
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// bruteAUC counts every positive/negative pair: 1 when the positive scores
// higher, ½ on a tie.
func bruteAUC(scores []float64, labels []bool) float64 {
	var num, pairs float64
	for i := range scores {
		if !labels[i] {
			continue
		}
		for j := range scores {
			if labels[j] {
				continue
			}
			pairs++
			switch {
			case scores[i] > scores[j]:
				num++
			case scores[i] == scores[j]:
				num += 0.5
			}
		}
	}
	return num / pairs
}

// bruteAP applies the definition literally: for every distinct score t taken
// as threshold (flag score ≥ t), recompute precision and recall from
// scratch, and sum (R_n − R_{n−1})·P_n in decreasing threshold order.
func bruteAP(scores []float64, labels []bool) float64 {
	distinct := map[float64]bool{}
	for _, s := range scores {
		distinct[s] = true
	}
	var ts []float64
	for t := range distinct {
		ts = append(ts, t)
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(ts)))
	npos := 0
	for _, l := range labels {
		if l {
			npos++
		}
	}
	ap, prevR := 0.0, 0.0
	for _, t := range ts {
		tp, fp := 0, 0
		for i, s := range scores {
			if s >= t {
				if labels[i] {
					tp++
				} else {
					fp++
				}
			}
		}
		r := float64(tp) / float64(npos)
		p := float64(tp) / float64(tp+fp)
		ap += (r - prevR) * p
		prevR = r
	}
	return ap
}

func TestSklearnDocExamples(t *testing.T) {
	// roc_auc_score([0,0,1,1],[0.1,0.4,0.35,0.8]) == 0.75 and
	// average_precision_score(same) == 0.8333… (scikit-learn docs).
	scores := []float64{0.1, 0.4, 0.35, 0.8}
	labels := []bool{false, false, true, true}
	auc, err := ROCAUC(scores, labels)
	if err != nil || !near(auc, 0.75, 1e-15) { // exact up to one rounding
		t.Errorf("ROCAUC = %v, %v; want 0.75", auc, err)
	}
	ap, err := AveragePrecision(scores, labels)
	if err != nil || !near(ap, 5.0/6, 1e-15) { // 0.5·1 + 0.5·(2/3)
		t.Errorf("AveragePrecision = %v, %v; want 0.8333…", ap, err)
	}
}

func TestROCAUCHand(t *testing.T) {
	cases := []struct {
		scores []float64
		labels []bool
		want   float64
	}{
		// perfect separation, perfect inversion
		{[]float64{1, 2, 3, 4}, []bool{false, false, true, true}, 1},
		{[]float64{1, 2, 3, 4}, []bool{true, true, false, false}, 0},
		// all tied: every pair counts ½
		{[]float64{7, 7, 7, 7, 7}, []bool{true, false, false, true, false}, 0.5},
		// pos {2,3}, neg {1,2}: pairs (2>1)=1, (2=2)=½, (3>1)=1, (3>2)=1 → 3.5/4
		{[]float64{1, 2, 2, 3}, []bool{false, false, true, true}, 0.875},
		// infinities are ordinary values
		{[]float64{math.Inf(-1), 0, math.Inf(1)}, []bool{false, true, false}, 0.5},
	}
	for i, c := range cases {
		got, err := ROCAUC(c.scores, c.labels)
		if err != nil || !near(got, c.want, 1e-15) { // exact up to rounding
			t.Errorf("case %d: ROCAUC = %v, %v; want %v", i, got, err, c.want)
		}
	}
}

func TestAPHand(t *testing.T) {
	cases := []struct {
		scores []float64
		labels []bool
		want   float64
	}{
		{[]float64{1, 2, 3, 4}, []bool{false, false, true, true}, 1},
		// ranked: pos, neg, pos → 0.5·1 + 0.5·(2/3)
		{[]float64{3, 2, 1}, []bool{true, false, true}, 0.5 + 1.0/3},
		// all tied: one threshold, recall 1 at precision 2/5
		{[]float64{7, 7, 7, 7, 7}, []bool{true, false, false, true, false}, 0.4},
		// no negatives
		{[]float64{1, 2}, []bool{true, true}, 1},
		// ties grouped: {3:pos}, {2: pos, neg}, {1: neg} → 0.5·1 + 0.5·(2/3)
		{[]float64{3, 2, 2, 1}, []bool{true, true, false, false}, 0.5 + 1.0/3},
	}
	for i, c := range cases {
		got, err := AveragePrecision(c.scores, c.labels)
		if err != nil || !near(got, c.want, 1e-15) { // exact up to rounding
			t.Errorf("case %d: AP = %v, %v; want %v", i, got, err, c.want)
		}
	}
}

func TestRankingVsBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		n := 2 + rng.IntN(120)
		levels := 1 + rng.IntN(10) // few distinct values → many ties
		scores := make([]float64, n)
		labels := make([]bool, n)
		for i := range scores {
			scores[i] = float64(rng.IntN(levels)) * 0.1
			labels[i] = rng.Float64() < 0.3
		}
		labels[0], labels[1] = true, false // both classes present
		auc, err := ROCAUC(scores, labels)
		if err != nil {
			t.Fatal(err)
		}
		if want := bruteAUC(scores, labels); !near(auc, want, 1e-12) { // sums of ≤ 1e4 terms
			t.Fatalf("trial %d: ROCAUC %v, brute force %v", trial, auc, want)
		}
		ap, err := AveragePrecision(scores, labels)
		if err != nil {
			t.Fatal(err)
		}
		if want := bruteAP(scores, labels); !near(ap, want, 1e-12) { // same terms, same order
			t.Fatalf("trial %d: AP %v, brute force %v", trial, ap, want)
		}
	}
}

func TestRankingErrors(t *testing.T) {
	bad := []struct {
		name   string
		scores []float64
		labels []bool
	}{
		{"length mismatch", []float64{1, 2}, []bool{true}},
		{"empty", nil, nil},
		{"NaN", []float64{1, math.NaN()}, []bool{true, false}},
	}
	for _, c := range bad {
		if _, err := ROCAUC(c.scores, c.labels); err == nil {
			t.Errorf("ROCAUC %s: no error", c.name)
		}
		if _, err := AveragePrecision(c.scores, c.labels); err == nil {
			t.Errorf("AP %s: no error", c.name)
		}
	}
	if _, err := ROCAUC([]float64{1, 2}, []bool{true, true}); err == nil {
		t.Error("ROCAUC with only positives: no error")
	}
	if _, err := ROCAUC([]float64{1, 2}, []bool{false, false}); err == nil {
		t.Error("ROCAUC with only negatives: no error")
	}
	if _, err := AveragePrecision([]float64{1, 2}, []bool{false, false}); err == nil {
		t.Error("AP with no positive: no error")
	}
}

func TestConfusion(t *testing.T) {
	scores := []float64{0.1, 0.5, 0.5, 0.9, 0.2, math.NaN()}
	labels := []bool{false, true, false, true, true, true}
	c := Confusion(scores, labels, 0.5) // flagged: only 0.9 (strictly greater)
	want := Counts{TP: 1, FP: 0, TN: 2, FN: 3}
	if c != want {
		t.Fatalf("Confusion = %+v, want %+v", c, want)
	}
	if c.Total() != 6 {
		t.Errorf("Total = %d", c.Total())
	}
	// precision 1/1, recall 1/4, F1 = 2·1·0.25/1.25 = 0.4; exact up to rounding
	if !near(c.Precision(), 1, 1e-15) || !near(c.Recall(), 0.25, 1e-15) || !near(c.F1(), 0.4, 1e-15) {
		t.Errorf("P/R/F1 = %v %v %v", c.Precision(), c.Recall(), c.F1())
	}
	c = Confusion(scores, labels, 0.15)
	want = Counts{TP: 3, FP: 1, TN: 1, FN: 1} // the NaN positive is missed
	if c != want {
		t.Fatalf("Confusion = %+v, want %+v", c, want)
	}
	if !near(c.F1(), 0.75, 1e-15) { // 2TP/(2TP+FP+FN) = 6/8
		t.Errorf("F1 = %v", c.F1())
	}
	// Undefined ratios are 0.
	var z Counts
	if z.Precision() != 0 || z.Recall() != 0 || z.F1() != 0 {
		t.Error("zero counts: ratios not 0")
	}
	if (Counts{TN: 3, FN: 2}).Precision() != 0 {
		t.Error("nothing flagged: precision not 0")
	}
	// Mismatched lengths count the common prefix, without panicking.
	if got := Confusion([]float64{1, 2, 3}, []bool{true}, 0); got != (Counts{TP: 1}) {
		t.Errorf("prefix: %+v", got)
	}
	if !strings.Contains(want.String(), "F1=0.7500") {
		t.Errorf("String = %q", want.String())
	}
}

func TestQuantile(t *testing.T) {
	// Hand values of numpy.quantile(v, q) (method="linear").
	v := []float64{3, 1, 4, 1, 5} // sorted 1 1 3 4 5
	cases := []struct{ q, want float64 }{
		{0, 1}, {1, 5}, {0.5, 3}, // median
		{0.25, 1},    // h = 1 → x[1]
		{0.3, 1.4},   // h = 1.2 → 1 + 0.2·2
		{0.75, 4},    // h = 3
		{0.9, 4.6},   // h = 3.6 → 4 + 0.6·1
		{0.99, 4.96}, // h = 3.96
	}
	for _, c := range cases {
		if got := Quantile(v, c.q); !near(got, c.want, 1e-12) { // one lerp of O(1) values
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := Quantile([]float64{1, 2, 3, 4}, 0.5); got != 2.5 { // numpy: 2.5
		t.Errorf("even median = %v", got)
	}
	if got := Quantile([]float64{10, 20}, 1.0/3); !near(got, 10+10.0/3, 1e-12) {
		t.Errorf("two-point = %v", got)
	}
	if got := Quantile([]float64{42}, 0.7); got != 42 {
		t.Errorf("single = %v", got)
	}
	if v[0] != 3 || v[1] != 1 {
		t.Error("Quantile modified its input")
	}
	for _, bad := range []struct {
		v []float64
		q float64
	}{{nil, 0.5}, {v, -0.1}, {v, 1.1}, {v, math.NaN()}, {[]float64{1, math.NaN()}, 0.5}} {
		if got := Quantile(bad.v, bad.q); !math.IsNaN(got) {
			t.Errorf("Quantile(%v, %v) = %v, want NaN", bad.v, bad.q, got)
		}
	}
}

func TestQuantileMonotoneAndExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	v := make([]float64, 37)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	prev := math.Inf(-1)
	for i := 0; i <= 1000; i++ {
		q := float64(i) / 1000
		got := Quantile(v, q)
		if got < prev {
			t.Fatalf("not monotone at q=%v", q)
		}
		prev = got
	}
	for i := range s { // q = i/(n−1) hits order statistics exactly
		if got := Quantile(v, float64(i)/float64(len(s)-1)); got != s[i] {
			t.Fatalf("order statistic %d: %v != %v", i, got, s[i])
		}
	}
}

func TestMeanStd(t *testing.T) {
	m, s := MeanStd([]float64{2, 4, 4, 4, 5, 5, 7, 9})
	if m != 5 || s != 2 { // textbook example: exact
		t.Errorf("MeanStd = %v, %v; want 5, 2", m, s)
	}
	m, s = MeanStd([]float64{3})
	if m != 3 || s != 0 {
		t.Errorf("single: %v %v", m, s)
	}
	m, s = MeanStd(nil)
	if !math.IsNaN(m) || !math.IsNaN(s) {
		t.Errorf("empty: %v %v", m, s)
	}
	// Large offset, small spread: the naive E[x²]−E[x]² would lose
	// everything here; the two-pass result keeps ~8 digits.
	v := make([]float64, 1000)
	for i := range v {
		v[i] = 1e9 + float64(i%2) // std exactly 0.5
	}
	m, s = MeanStd(v)
	if !near(m, 1e9+0.5, 1e-6) || !near(s, 0.5, 1e-8) {
		t.Errorf("offset: %v %v", m, s)
	}
}

func TestMAD(t *testing.T) {
	// median 3; |dev| = 2 2 0 1 2 → median 2 → 2·1.4826
	if got := MAD([]float64{1, 1, 3, 4, 5}); !near(got, 2*1.4826, 1e-12) {
		t.Errorf("MAD = %v", got)
	}
	if got := MAD(nil); !math.IsNaN(got) {
		t.Errorf("MAD(empty) = %v", got)
	}
}
