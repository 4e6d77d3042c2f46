package cpu_fallback

import (
	"testing"

	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/engine/enginetest"
)

func TestConformance1Thread(t *testing.T) {
	b := New(1)
	defer b.Close()
	enginetest.Run(t, b)
}

func TestConformance4Threads(t *testing.T) {
	b := New(4)
	defer b.Close()
	enginetest.Run(t, b)
}

// TestCompare exercises enginetest.Compare (the future CUDA-vs-CPU check)
// on two CPU backends with different thread counts.
func TestCompare(t *testing.T) {
	ref, got := New(1), New(3)
	defer ref.Close()
	defer got.Close()
	enginetest.Compare(t, ref, got)
}

func TestRegistered(t *testing.T) {
	b, note, err := engine.Open("cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	info := b.Info()
	if info.Backend != "cpu" || info.Name == "" || info.Detail == "" {
		t.Errorf("Info() = %+v", info)
	}
	t.Log(note)
	devs, err := driver{}.Probe()
	if err != nil || len(devs) != 1 || devs[0].Backend != "cpu" {
		t.Errorf("Probe() = %v, %v", devs, err)
	}
	if _, err := (driver{}).Open(1); err == nil {
		t.Error("Open(1) succeeded")
	}
}
