package nccl

import (
	"errors"
	"strings"
	"testing"
)

// The binding against the fake libnccl over the emulated GPU runs in
// cuda/nccl_emulated_test.go (TestEmulatedNCCL: two ranks, the whole call
// sequence). These are the parts that need no library.

func TestVersionString(t *testing.T) {
	for code, want := range map[int]string{22304: "2.23.4", 21805: "2.18.5", 2708: "2.7.8", 20905: "2.9.5"} {
		if got := VersionString(code); got != want {
			t.Errorf("VersionString(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestErrorNamesTheCall(t *testing.T) {
	err := check("ncclCommInitRank", codeRemoteError)
	var e *Error
	if !errors.As(err, &e) || !e.Remote() || !strings.HasPrefix(err.Error(), "ncclCommInitRank: ncclRemoteError") {
		t.Errorf("check = %v, want ncclCommInitRank: ncclRemoteError", err)
	}
	if check("ncclAllReduce", codeSuccess) != nil {
		t.Error("ncclSuccess is an error")
	}
	if got := CodeName(42); got != "ncclResult_t 42" {
		t.Errorf("CodeName(42) = %q", got)
	}
}

// TestLoadMissing: where no libnccl.so.2 can be opened, Load and every call
// after it report ErrNotLoaded (naming the library) instead of failing
// later; where NCCL is installed, Version answers.
func TestLoadMissing(t *testing.T) {
	err := Load()
	if err == nil {
		v, err := Version()
		if err != nil || v <= 0 {
			t.Fatalf("NCCL loaded but Version = %d, %v", v, err)
		}
		t.Skipf("NCCL %s is installed here", VersionString(v))
	}
	if !errors.Is(err, ErrNotLoaded) {
		t.Fatalf("Load = %v, want ErrNotLoaded", err)
	}
	if buildErr == nil && !strings.Contains(err.Error(), LibName) {
		t.Errorf("Load = %v, want the library named", err)
	}
	if _, err := NewUniqueID(); !errors.Is(err, ErrNotLoaded) {
		t.Errorf("NewUniqueID = %v, want ErrNotLoaded", err)
	}
	if _, err := InitRank(UniqueID{}, 2, 0); !errors.Is(err, ErrNotLoaded) {
		t.Errorf("InitRank = %v, want ErrNotLoaded", err)
	}
	var c Comm // a communicator never joined (or already destroyed)
	if err := c.AllReduceSum(0, 1, 0); err == nil {
		t.Error("AllReduceSum on a closed communicator succeeded")
	}
}
