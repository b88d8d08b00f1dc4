package observe

import (
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	for _, tc := range []struct {
		totals  Totals
		pending int
		rate    float64
		want    string
	}{
		{Totals{}, 0, 0, "0 files processed · 0 records delivered (0/s) · 0 pending"},
		{Totals{FilesProcessed: 1, Delivered: 1}, -1, 0, "1 file processed · 1 record delivered (0/s)"},
		{Totals{FilesProcessed: 40, FilesQuarantined: 2, FilesSkipped: 1, Delivered: 900, RecordsRejected: 3, DeliveriesRejected: 1, Retries: 7}, 300, 150,
			"40 files processed, 2 quarantined, 1 already seen · 900 records delivered (150/s) · 300 pending, about 2s to go · rejected: 3 by the rules, 1 by the destination · 7 retries"},
	} {
		if got := ProgressLine(tc.totals, tc.pending, tc.rate); got != tc.want {
			t.Errorf("ProgressLine(%+v, %d, %v)\n got %q\nwant %q", tc.totals, tc.pending, tc.rate, got, tc.want)
		}
	}
}

func TestRateMeter(t *testing.T) {
	var m RateMeter
	t0 := time.Unix(1000, 0)
	if r := m.Add(t0, 0); r != 0 {
		t.Errorf("first sample gave %v, want 0", r)
	}
	if r := m.Add(t0.Add(time.Second), 100); r != 100 {
		t.Errorf("100 in 1s gave %v, want 100", r)
	}
	if r := m.Add(t0.Add(2*time.Second), 100); r != 70 {
		t.Errorf("then 0 in 1s gave %v, want 70 (smoothed)", r)
	}
}
