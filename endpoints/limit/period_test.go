package limit

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func date(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }

func TestWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		at         time.Time
		p          Period
		offset     int
		start, end time.Time
	}{
		{"day", date(2024, 2, 14, 12), Day, 0, date(2024, 2, 14, 0), date(2024, 2, 15, 0)},
		{"day at midnight", date(2024, 2, 14, 0), Day, 0, date(2024, 2, 14, 0), date(2024, 2, 15, 0)},
		{"day, a nanosecond before midnight", date(2024, 2, 15, 0).Add(-1), Day, 0, date(2024, 2, 14, 0), date(2024, 2, 15, 0)},
		{"day across the year", date(2023, 12, 31, 23), Day, 0, date(2023, 12, 31, 0), date(2024, 1, 1, 0)},
		{"day in another zone is UTC", time.Date(2024, 2, 14, 23, 0, 0, 0, time.FixedZone("X", -5*3600)), Day, 0, date(2024, 2, 15, 0), date(2024, 2, 16, 0)},
		// 2024-02-14 is a Wednesday.
		{"week from Sunday", date(2024, 2, 14, 12), Week, 0, date(2024, 2, 11, 0), date(2024, 2, 18, 0)},
		{"week from Monday", date(2024, 2, 14, 12), Week, 1, date(2024, 2, 12, 0), date(2024, 2, 19, 0)},
		{"week from Wednesday, on it", date(2024, 2, 14, 0), Week, 3, date(2024, 2, 14, 0), date(2024, 2, 21, 0)},
		{"week from Thursday", date(2024, 2, 14, 12), Week, 4, date(2024, 2, 8, 0), date(2024, 2, 15, 0)},
		{"week from Saturday, across the year", date(2024, 1, 1, 5), Week, 6, date(2023, 12, 30, 0), date(2024, 1, 6, 0)},
		{"week, a nanosecond before its start", date(2024, 2, 11, 0).Add(-1), Week, 0, date(2024, 2, 4, 0), date(2024, 2, 11, 0)},
		{"month", date(2024, 2, 14, 12), Month, 0, date(2024, 2, 1, 0), date(2024, 3, 1, 0)},
		{"month, last moment", date(2024, 3, 1, 0).Add(-1), Month, 0, date(2024, 2, 1, 0), date(2024, 3, 1, 0)},
		{"month from the 3rd, before it", date(2024, 3, 2, 23), Month, 2, date(2024, 2, 3, 0), date(2024, 3, 3, 0)},
		{"month from the 3rd, on it", date(2024, 3, 3, 0), Month, 2, date(2024, 3, 3, 0), date(2024, 4, 3, 0)},
		{"month across the year", date(2024, 1, 10, 0), Month, 14, date(2023, 12, 15, 0), date(2024, 1, 15, 0)},
		{"month from the 28th in a leap February", date(2024, 2, 29, 12), Month, 27, date(2024, 2, 28, 0), date(2024, 3, 28, 0)},
		{"month from the 28th, early March", date(2024, 3, 1, 0), Month, 27, date(2024, 2, 28, 0), date(2024, 3, 28, 0)},
		{"month from the 28th, non-leap", date(2023, 2, 27, 0), Month, 27, date(2023, 1, 28, 0), date(2023, 2, 28, 0)},
		{"month, leap day", date(2024, 2, 29, 23), Month, 0, date(2024, 2, 1, 0), date(2024, 3, 1, 0)},
		{"month, 31-day month end", date(2024, 8, 31, 23), Month, 0, date(2024, 8, 1, 0), date(2024, 9, 1, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start, end := Window(tc.at, tc.p, tc.offset)
			if !start.Equal(tc.start) || !end.Equal(tc.end) {
				t.Fatalf("Window(%v, %s, %d) = [%v, %v), want [%v, %v)", tc.at, tc.p, tc.offset, start, end, tc.start, tc.end)
			}
			if start.Location() != time.UTC {
				t.Fatalf("start %v is not UTC", start)
			}
		})
	}
}

// TestWindowContains checks over random instants that every window holds
// its instant, starts at a UTC midnight, and is the window of its start.
func TestWindowContains(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	lo := date(2020, 1, 1, 0).Unix()
	for range 5000 {
		at := time.Unix(lo+r.Int64N(10*365*86400), 0).UTC()
		p := []Period{Day, Week, Month}[r.IntN(3)]
		off := r.IntN(maxOffset[p] + 1)
		start, end := Window(at, p, off)
		if at.Before(start) || !at.Before(end) || !start.Equal(midnight(start)) {
			t.Fatalf("Window(%v, %s, %d) = [%v, %v)", at, p, off, start, end)
		}
		if s2, e2 := Window(start, p, off); !s2.Equal(start) || !e2.Equal(end) {
			t.Fatalf("Window of start %v = [%v, %v), want [%v, %v)", start, s2, e2, start, end)
		}
		if s2, _ := Window(end, p, off); !s2.Equal(end) {
			t.Fatalf("next window after %v starts %v, want %v", start, s2, end)
		}
	}
}

func TestValidateQuota(t *testing.T) {
	t.Parallel()
	tests := []struct {
		limit  int
		p      Period
		offset int
		want   []string // substrings of the error; none: valid
	}{
		{1, Day, 0, nil},
		{1000, Week, 6, nil},
		{5, Month, 27, nil},
		{0, Day, 0, []string{"quota limit must be positive, got 0"}},
		{10, Day, 1, []string{"quota offset must be 0 for period DAY, got 1"}},
		{10, Week, 7, []string{"quota offset must be between 0 and 6 for period WEEK, got 7"}},
		{10, Week, -1, []string{"between 0 and 6"}},
		{10, Month, 28, []string{"quota offset must be between 0 and 27 for period MONTH, got 28"}},
		{10, "YEAR", 0, []string{`quota period must be DAY, WEEK or MONTH, got "YEAR"`}},
		{10, "day", 0, []string{`got "day"`}},
		{-3, Month, 30, []string{"limit must be positive", "between 0 and 27"}},
	}
	for _, tc := range tests {
		err := ValidateQuota(tc.limit, tc.p, tc.offset)
		if len(tc.want) == 0 {
			if err != nil {
				t.Errorf("ValidateQuota(%d, %q, %d) = %v, want nil", tc.limit, tc.p, tc.offset, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("ValidateQuota(%d, %q, %d) = nil, want an error", tc.limit, tc.p, tc.offset)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ValidateQuota(%d, %q, %d) = %q, want it to say %q", tc.limit, tc.p, tc.offset, err, w)
			}
		}
		if s, e := Window(t0, tc.p, tc.offset); tc.limit > 0 && (!s.IsZero() || !e.IsZero()) {
			t.Errorf("Window(%q, %d) = [%v, %v), want zero times for an invalid setting", tc.p, tc.offset, s, e)
		}
	}
}

func TestSpecValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec Spec
		ok   bool
	}{
		{RateSpec(100, 200), true},
		{RateSpec(0, 0), true},
		{RateSpec(-1, 5), false},
		{RateSpec(1, -5), false},
		{Spec{Rate: 1, Burst: 1, Offset: 2}, false},
		{QuotaSpec(100, Month, 2), true},
		{QuotaSpec(100, Month, 40), false},
		{Spec{Rate: 1, Limit: 5, Period: Day}, false},
	}
	for _, tc := range tests {
		if err := tc.spec.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v.Validate() = %v, want ok %v", tc.spec, err, tc.ok)
		}
	}
}
