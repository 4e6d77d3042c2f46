package bench

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aegpu/aegpu/cpu_fallback"
	"github.com/aegpu/aegpu/dataset"
)

// TestRunQuality trains both recipes briefly on a cut of the low-rank set
// (standard-scaled: predicting the mean scores an MSE of about 1), and
// renders the table.
func TestRunQuality(t *testing.T) {
	train, test := LowRank()
	if train.Rows != 20000 || test.Rows != 5000 || train.Cols != 64 {
		t.Fatalf("low-rank set %d+%d rows × %d", train.Rows, test.Rows, train.Cols)
	}
	cut := func(tb *dataset.Table, n int) *dataset.Table {
		return &dataset.Table{Rows: n, Cols: tb.Cols, Data: tb.Data[:n*tb.Cols], Shape: []int{n, tb.Cols}}
	}
	train, test = cut(train, 2000), cut(test, 500)
	s := QualitySets[3]
	s.Epochs = 3
	b := cpu_fallback.New(0)
	defer b.Close()
	var rs []QualityResult
	for _, r := range []Recipe{OldRecipe, DefaultRecipe} {
		res, err := RunQuality(b, s, r, train, test, 1)
		if err != nil {
			t.Fatal(err)
		}
		// 8 of 64 directions hold all but 0.05² of the variance: PCA at 8
		// components leaves the noise, a few thousandths.
		if !(res.TestMSE > 0 && res.TestMSE < 0.9) || !(res.PCAMSE > 0 && res.PCAMSE < 0.01) || math.IsNaN(res.TestMSE) {
			t.Errorf("%s recipe: test MSE %v, PCA %v", r.Name, res.TestMSE, res.PCAMSE)
		}
		rs = append(rs, res)
	}
	tab := QualityTable(rs, []string{"old", "default"}, nil)
	lines := strings.Split(strings.TrimSpace(tab), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[2], "| lowrank | 3 |") || strings.Count(lines[2], "|") != 7 {
		t.Errorf("table:\n%s", tab)
	}
	if got := mseCell(0.01, 784); got != "0.01 [7.84]" {
		t.Errorf("an image set's cell: %q", got)
	}
}

// TestQualityReference runs the PyTorch reference (where python3 imports
// torch) on the same cut of the low-rank set as aegpu's old recipe: the
// same rows, split and scaling, so the two held-out errors must agree
// within a factor of 1.5 (the inits and shuffles differ).
func TestQualityReference(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := CheckPython(py, 30*time.Second); err != nil {
		t.Skipf("no python3 with torch: %v", err)
	}
	train, test := LowRank()
	train = &dataset.Table{Rows: 4000, Cols: 64, Data: train.Data[:4000*64], Shape: []int{4000, 64}}
	test = &dataset.Table{Rows: 1000, Cols: 64, Data: test.Data[:1000*64], Shape: []int{1000, 64}}
	s := QualitySets[3]
	s.Epochs = 3
	b := cpu_fallback.New(0)
	defer b.Close()
	res, err := RunQuality(b, s, OldRecipe, train, test, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := RunQualityReference(py, s, train, test, res.Scaler, 1, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out MSE: aegpu %.5g, PyTorch %s %.5g", res.TestMSE, ref.Torch, ref.TestMSE)
	if r := ref.TestMSE / res.TestMSE; !(r > 1/1.5 && r < 1.5) {
		t.Errorf("PyTorch's held-out MSE %.4g and aegpu's %.4g differ by more than a factor of 1.5", ref.TestMSE, res.TestMSE)
	}
}
