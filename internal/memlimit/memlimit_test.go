package memlimit

import (
	"math"
	"runtime/debug"
	"testing"
)

func current() int64 { return debug.SetMemoryLimit(-1) }

func TestReserve(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetMemoryLimit(math.MaxInt64)
	Init(32 << 20)
	if got := current(); got != 32<<20 {
		t.Fatalf("limit %d after Init", got)
	}
	r1 := Reserve(16 << 20)
	r2 := Reserve(8 << 20)
	if got := current(); got != 56<<20 {
		t.Fatalf("limit %d with two reservations", got)
	}
	r1()
	r1()
	if got := current(); got != 40<<20 {
		t.Fatalf("limit %d after one release (twice)", got)
	}
	r2()
	if got := current(); got != 32<<20 {
		t.Fatalf("limit %d after both releases", got)
	}
}
