package limit

import (
	"errors"
	"fmt"
	"time"
)

// Period is the length of a quota window, as API Gateway usage plans name
// it (QuotaSettings.period).
type Period string

// Quota periods (API Gateway QuotaSettings: DAY, WEEK, MONTH).
const (
	Day   Period = "DAY"
	Week  Period = "WEEK"
	Month Period = "MONTH"
)

// maxOffset is the largest valid offset of each period (API Gateway
// QuotaSettings.offset: 0 for DAY, 0–6 for WEEK, 0–27 for MONTH).
var maxOffset = map[Period]int{Day: 0, Week: 6, Month: 27}

// ValidateQuota reports every problem of a quota setting: the limit must
// be positive, the period one of DAY, WEEK, MONTH, and the offset in the
// period's range (DAY 0; WEEK 0–6, the weekday the week starts, 0 =
// Sunday; MONTH 0–27, days after the first of the month).
func ValidateQuota(limit int, p Period, offset int) error {
	var errs []error
	if limit <= 0 {
		errs = append(errs, fmt.Errorf("quota limit must be positive, got %d", limit))
	}
	hi, ok := maxOffset[p]
	switch {
	case !ok:
		errs = append(errs, fmt.Errorf("quota period must be DAY, WEEK or MONTH, got %q", string(p)))
	case p == Day && offset != 0:
		errs = append(errs, fmt.Errorf("quota offset must be 0 for period DAY, got %d", offset))
	case offset < 0 || offset > hi:
		errs = append(errs, fmt.Errorf("quota offset must be between 0 and %d for period %s, got %d", hi, p, offset))
	}
	return errors.Join(errs...)
}

// Window returns the quota window [start, end) that contains t, in UTC.
// Every window starts at a UTC midnight: DAY windows are calendar days;
// WEEK windows start on weekday offset (0 = Sunday); MONTH windows start
// offset days after the first of a month (offset 2: the 3rd) and end on
// the same day of the next month. Offsets stop at 27, so every month has
// the start day and no window is shortened by a short month.
//
// Window expects a setting that ValidateQuota accepts; for any other it
// returns zero times.
func Window(t time.Time, p Period, offset int) (start, end time.Time) {
	if hi, ok := maxOffset[p]; !ok || offset < 0 || offset > hi {
		return time.Time{}, time.Time{}
	}
	t = t.UTC()
	y, m, d := t.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	switch p {
	case Day:
		return day, day.AddDate(0, 0, 1)
	case Week:
		back := (int(t.Weekday()) - offset + 7) % 7
		start = day.AddDate(0, 0, -back)
		return start, start.AddDate(0, 0, 7)
	default: // Month
		first := 1 + offset
		if d < first {
			m-- // time.Date normalises month 0 to December of the year before
		}
		start = time.Date(y, m, first, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
}

// midnight returns the UTC midnight that starts t's day.
func midnight(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
