package anomaly

import (
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/aegpu/aegpu/dataset"
)

func TestFitThreshold(t *testing.T) {
	fixed, err := FixedRule(0.5)
	if err != nil {
		t.Fatal(err)
	}
	if got := FitThreshold(fixed, []float64{1, 2, 3}); got != (Threshold{Value: 0.5, Rule: "0.5"}) {
		t.Errorf("fixed: %+v", got)
	}
	q, err := ContaminationRule(0.25)
	if err != nil {
		t.Fatal(err)
	}
	got := FitThreshold(q, []float64{0, 1, 2, 3, 4})
	if got.Value != 3 || got.Rule != "contamination=0.25" || got.Rows != 5 {
		t.Errorf("contamination: %+v", got)
	}
	if _, err := ParseRule("mean+xstd"); err == nil {
		t.Error("ParseRule accepted mean+xstd")
	}
}

func TestSaveLoadThreshold(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := LoadThreshold(dir); ok || err != nil {
		t.Fatalf("empty dir: ok %v, err %v", ok, err)
	}
	th := Threshold{Value: 0.25, Rule: "q0.99", Metric: "mae", FittedOn: "x.csv", Rows: 7}
	where, err := SaveThreshold(dir, th)
	if err != nil || where != filepath.Join(dir, ThresholdFile) {
		t.Fatalf("SaveThreshold: %q, %v", where, err)
	}
	got, ok, err := LoadThreshold(dir)
	if err != nil || !ok {
		t.Fatalf("LoadThreshold: ok %v, err %v", ok, err)
	}
	if got.Fitted == "" {
		t.Error("Fitted not set")
	}
	got.Fitted = ""
	if got != th {
		t.Errorf("read back %+v, want %+v", got, th)
	}
	if err := SaveThresholdFile(filepath.Join(dir, "nope", "t.json"), th); err == nil {
		t.Error("SaveThresholdFile into a missing directory succeeded")
	}
}

func TestMergeAnomalies(t *testing.T) {
	data := &dataset.Table{Rows: 2, Cols: 2, Data: []float32{1, 2, 3, 4}, Header: []string{"a", "b"}}
	extra := &dataset.Table{Rows: 1, Cols: 2, Data: []float32{5, 6}}
	m, labels, err := MergeAnomalies(data, extra)
	if err != nil {
		t.Fatal(err)
	}
	if m.Rows != 3 || !reflect.DeepEqual(m.Data, []float32{1, 2, 3, 4, 5, 6}) || !reflect.DeepEqual(m.Header, data.Header) {
		t.Errorf("merged %+v", m)
	}
	if !reflect.DeepEqual(labels, []bool{false, false, true}) {
		t.Errorf("labels %v", labels)
	}
	if data.Rows != 2 || len(data.Data) != 4 {
		t.Error("data modified")
	}
	var we *WidthError
	if _, _, err := MergeAnomalies(data, &dataset.Table{Rows: 1, Cols: 3, Data: make([]float32, 3)}); !errors.As(err, &we) || we.Data != 2 || we.Anomalies != 3 {
		t.Errorf("width mismatch: %v", err)
	}
}

func TestLabels(t *testing.T) {
	got, err := Labels([]int{0, 1, 1}, 3)
	if err != nil || !reflect.DeepEqual(got, []bool{false, true, true}) {
		t.Errorf("Labels: %v, %v", got, err)
	}
	var ce *LabelCountError
	if _, err := Labels([]int{0}, 2); !errors.As(err, &ce) || ce.Labels != 1 || ce.Rows != 2 {
		t.Errorf("count: %v", err)
	}
	var ve *LabelValueError
	if _, err := Labels([]int{0, 2}, 2); !errors.As(err, &ve) || ve.Row != 1 || ve.Label != 2 {
		t.Errorf("value: %v", err)
	}
}

func TestFlagsEvaluate(t *testing.T) {
	scores := []float64{0.1, 0.5, math.NaN(), 0.9}
	if flags, n := Flags(scores, nil); n != 0 || flags[3] {
		t.Errorf("no threshold: %v %d", flags, n)
	}
	th := &Threshold{Value: 0.5}
	flags, n := Flags(scores, th)
	if n != 1 || !reflect.DeepEqual(flags, []bool{false, false, false, true}) {
		t.Errorf("flags %v %d", flags, n)
	}
	rep, err := Evaluate([]float64{0.1, 0.5, 0.9}, nil, th)
	if err != nil || rep.Labelled || rep.Flagged != 1 || rep.Rows != 3 || rep.Median != 0.5 {
		t.Errorf("no labels: %+v, %v", rep, err)
	}
	rep, err = Evaluate([]float64{0.1, 0.5, 0.9}, []bool{false, true, true}, th)
	if err != nil || !rep.Labelled || rep.ROCAUC != 1 || rep.Counts != (Counts{TP: 1, FN: 1, TN: 1}) {
		t.Errorf("labels: %+v, %v", rep, err)
	}
	if _, err := Evaluate([]float64{0.1, 0.5}, []bool{false, false}, th); err == nil {
		t.Error("labels of one class: no error")
	}
}

func TestExplain(t *testing.T) {
	scores := []float64{0.1, 0.8, 0.9, 0.7}
	featErr := []float32{
		0, 0, 0,
		0.1, 0.3, 0.3,
		0.5, 0.2, 0.1,
		0.2, 0.1, 0.4,
	}
	rows, more := Explain(scores, featErr, 3, []string{"a", ""}, 0.5, 2, 2)
	want := []Explanation{
		{Row: 1, Score: 0.8, Features: []FeatureError{{1, "#1", 0.3}, {2, "#2", 0.3}}},
		{Row: 2, Score: 0.9, Features: []FeatureError{{0, "a", 0.5}, {1, "#1", 0.2}}},
	}
	if !more || !reflect.DeepEqual(rows, want) {
		t.Errorf("got %+v, more %v", rows, more)
	}
	if rows, more := Explain(scores, featErr, 3, nil, 0.5, 5, 3); more || len(rows) != 3 || len(rows[0].Features) != 3 {
		t.Errorf("all rows: %+v, more %v", rows, more)
	}
}
