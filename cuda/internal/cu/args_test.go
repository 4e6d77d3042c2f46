package cu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"unsafe"
)

func TestArgsLayout(t *testing.T) {
	a := NewArgs()
	defer a.Free()
	a.Ptr(0x7f00_1234_5678_9abc).
		I32(-2).
		I64(-3).
		U64(0xfedc_ba98_7654_3210).
		F32(1.5).
		U32(0xdead_beef).
		F64(-0.25)
	if a.Err() != nil || a.Len() != 7 {
		t.Fatalf("Len %d Err %v", a.Len(), a.Err())
	}
	le := binary.LittleEndian
	u32 := func(v uint32) []byte { return le.AppendUint32(nil, v) }
	u64 := func(v uint64) []byte { return le.AppendUint64(nil, v) }
	want := [][]byte{
		u64(0x7f00_1234_5678_9abc),
		u32(uint32(0xfffffffe)),
		u64(uint64(0xfffffffffffffffd)),
		u64(0xfedc_ba98_7654_3210),
		u32(math.Float32bits(1.5)),
		u32(0xdead_beef),
		u64(math.Float64bits(-0.25)),
	}
	for i, w := range want {
		got, off := a.slot(i)
		if off != uintptr(i*8) {
			t.Errorf("arg %d: offset %d, want %d (one 8-byte slot per argument)", i, off, i*8)
		}
		if (uintptr(a.base)+off)%8 != 0 {
			t.Errorf("arg %d: address not 8-byte aligned", i)
		}
		if len(got) != len(w) {
			t.Errorf("arg %d: size %d, want %d", i, len(got), len(w))
		}
		if !bytes.Equal(got, w) {
			t.Errorf("arg %d: bytes % x, want % x", i, got, w)
		}
	}
	// A 4-byte argument leaves the rest of its slot zero (a stale 8-byte
	// value underneath must not leak into a kernel reading 8 bytes by
	// mistake).
	a.Reset().U64(math.MaxUint64).Reset().I32(1)
	full := unsafe.Slice((*byte)(a.base), 8)
	if !bytes.Equal(full, []byte{1, 0, 0, 0, 0, 0, 0, 0}) {
		t.Errorf("slot after Reset+I32: % x", full)
	}
	// The pointer array follows the value slots and points into them.
	if got := a.paramsAddr() - uintptr(a.base); got != MaxArgs*8 {
		t.Errorf("params array at offset %d, want %d", got, MaxArgs*8)
	}
}

func TestArgsNoAllocations(t *testing.T) {
	a := NewArgs()
	defer a.Free()
	var p DevicePtr = 0x1000
	n := testing.AllocsPerRun(1000, func() {
		a.Reset().Ptr(p).Ptr(p + 4).Ptr(p + 8).I32(1).I32(2).I32(3).I64(4).U64(5).F32(6).U32(7).F64(8)
	})
	if n != 0 {
		t.Errorf("Reset+append allocates %v times per run, want 0", n)
	}
	if a.Len() != 11 {
		t.Errorf("Len = %d", a.Len())
	}
}

func TestArgsOverflow(t *testing.T) {
	a := NewArgs()
	defer a.Free()
	for i := 0; i < MaxArgs; i++ {
		a.I32(int32(i))
	}
	if a.Err() != nil {
		t.Fatalf("%d args: %v", MaxArgs, a.Err())
	}
	a.I32(99).F32(1) // no panic, sticky error
	if !errors.Is(a.Err(), errArgsTooMany) || a.Len() != MaxArgs {
		t.Fatalf("after overflow: Len %d Err %v", a.Len(), a.Err())
	}
	// Launch reports it (before even asking the driver, if loaded).
	if err := Launch(1, [3]uint32{1, 1, 1}, [3]uint32{1, 1, 1}, 0, 0, a); err == nil {
		t.Error("Launch with overflowed Args succeeded")
	}
	if a.Reset().Err() != nil || a.Len() != 0 {
		t.Error("Reset does not clear the error")
	}
}

func TestArgsUseAfterFree(t *testing.T) {
	a := NewArgs()
	a.I32(1)
	a.Free()
	a.Free() // second Free is a no-op
	a.Reset().I32(2).Ptr(3)
	if !errors.Is(a.Err(), errArgsFreed) || a.Len() != 0 {
		t.Errorf("after Free: Len %d Err %v", a.Len(), a.Err())
	}
	if err := Launch(1, [3]uint32{1, 1, 1}, [3]uint32{1, 1, 1}, 0, 0, a); err == nil {
		t.Error("Launch with freed Args succeeded")
	}
}
