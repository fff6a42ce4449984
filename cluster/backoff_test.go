package cluster

import (
	"context"
	"testing"
	"time"
)

func TestBackoffDoublesToMaxResetsAndStopsWithContext(t *testing.T) {
	t.Parallel()
	b := &Backoff{Min: time.Millisecond, Max: 4 * time.Millisecond}
	var steps []time.Duration
	for i := 0; i < 4; i++ {
		steps = append(steps, b.Next())
		if !b.Wait(context.Background()) {
			t.Fatal("Wait ended without a cancelled context")
		}
	}
	want := []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond}
	for i := range want {
		if steps[i] != want[i] {
			t.Fatalf("steps = %v, want %v", steps, want)
		}
	}
	b.Reset()
	if b.Next() != time.Millisecond {
		t.Fatalf("after Reset the step is %v, want Min", b.Next())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	long := &Backoff{Min: time.Hour, Max: time.Hour}
	if long.Wait(ctx) {
		t.Fatal("Wait returned true with a cancelled context")
	}
}
