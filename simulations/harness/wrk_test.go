package harness

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Sample summaries in the format wrk 4.1 prints with --latency, written
// for these tests (numbers are made up but self-consistent).

// A clean run with millisecond latencies.
const wrkDirect = `Running 10s test @ https://127.0.0.1:41234/hello
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.05ms    3.71ms  58.32ms   91.47%
    Req/Sec    21.40k     2.87k   28.91k    71.50%
  Latency Distribution
     50%    1.12ms
     75%    2.01ms
     90%    4.37ms
     99%   18.66ms
  425873 requests in 10.01s, 56.86MB read
Requests/sec:  42545.76
Transfer/sec:      5.68MB
`

// Microsecond latencies, socket errors and error responses.
const wrkGatewayErrors = `Running 5s test @ https://127.0.0.1:40000/bench/hello
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   612.40us  301.22us   9.87ms   88.10%
    Req/Sec     8.04k   612.33     9.10k    66.00%
  Latency Distribution
     50%  498.00us
     75%  701.00us
     90%    1.01ms
     99%    2.50ms
  80000 requests in 5.00s, 10.00MB read
  Socket errors: connect 0, read 3, write 0, timeout 7
  Non-2xx or 3xx responses: 12
Requests/sec:  16000.00
Transfer/sec:      2.00MB
`

// A saturated server: seconds and a one-minute run.
const wrkSlow = `Running 1m test @ http://127.0.0.1:40001/hello
  1 threads and 512 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   420.11ms  300.02ms   1.99s    70.00%
    Req/Sec     1.20k   100.00     1.50k    80.00%
  Latency Distribution
     50%  380.50ms
     75%  610.00ms
     90%  900.25ms
     99%    1.20s
  72000 requests in 1.00m, 9.00MB read
  Socket errors: connect 0, read 0, write 0, timeout 120
Requests/sec:   1199.87
Transfer/sec:    153.58KB
`

// Without --latency there is no distribution.
const wrkNoLatency = `Running 10s test @ http://127.0.0.1:40001/hello
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.27ms    2.10ms  40.12ms   90.12%
    Req/Sec    24.15k     3.01k   30.00k    70.00%
  480260 requests in 10.00s, 58.62MB read
Requests/sec:  48026.00
Transfer/sec:      5.86MB
`

// wrk could not connect at all.
const wrkRefused = `unable to connect to 127.0.0.1:1 Connection refused
`

func TestParseWrk(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		out     string
		want    WrkResult
		wantErr string
	}{
		{
			name: "direct, ms",
			out:  wrkDirect,
			want: WrkResult{
				Requests: 425873, Elapsed: 10010 * time.Millisecond, RPS: 42545.76,
				P50: 1120 * time.Microsecond, P75: 2010 * time.Microsecond,
				P90: 4370 * time.Microsecond, P99: 18660 * time.Microsecond,
			},
		},
		{
			name: "gateway, us, errors",
			out:  wrkGatewayErrors,
			want: WrkResult{
				Requests: 80000, Elapsed: 5 * time.Second, RPS: 16000,
				P50: 498 * time.Microsecond, P75: 701 * time.Microsecond,
				P90: 1010 * time.Microsecond, P99: 2500 * time.Microsecond,
				Socket: SocketErrors{Read: 3, Timeout: 7}, Non2xx: 12,
			},
		},
		{
			name: "saturated, s and m",
			out:  wrkSlow,
			want: WrkResult{
				Requests: 72000, Elapsed: time.Minute, RPS: 1199.87,
				P50: 380500 * time.Microsecond, P75: 610 * time.Millisecond,
				P90: 900250 * time.Microsecond, P99: 1200 * time.Millisecond,
				Socket: SocketErrors{Timeout: 120},
			},
		},
		{name: "CRLF line ends", out: strings.ReplaceAll(wrkDirect, "\n", "\r\n"), want: WrkResult{
			Requests: 425873, Elapsed: 10010 * time.Millisecond, RPS: 42545.76,
			P50: 1120 * time.Microsecond, P75: 2010 * time.Microsecond,
			P90: 4370 * time.Microsecond, P99: 18660 * time.Microsecond,
		}},
		{name: "no --latency", out: wrkNoLatency, wantErr: "no latency distribution"},
		{name: "connection refused", out: wrkRefused, wantErr: "no Requests/sec"},
		{name: "empty", out: "", wantErr: "no Requests/sec"},
		{name: "bad unit", out: strings.Replace(wrkDirect, "18.66ms", "18.66xs", 1), wantErr: "99% latency"},
		{name: "nan", out: strings.Replace(wrkDirect, "1.12ms", "-nanus", 1), wantErr: "50% latency"},
		{name: "bad rate", out: strings.Replace(wrkDirect, "42545.76", "lots", 1), wantErr: "bad Requests/sec"},
		{name: "NaN rate", out: strings.Replace(wrkDirect, "42545.76", "NaN", 1), wantErr: "bad Requests/sec"},
		{name: "bad socket errors", out: strings.Replace(wrkGatewayErrors, "read 3", "read x", 1), wantErr: "socket errors line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseWrk(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseWrk() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseWrk() error = %v", err)
			}
			if got != tt.want {
				t.Errorf("ParseWrk() =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestParseWrkTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"812.00us", 812 * time.Microsecond, true},
		{"1.27ms", 1270 * time.Microsecond, true},
		{"2.00s", 2 * time.Second, true},
		{"1.50m", 90 * time.Second, true},
		{"1.00h", time.Hour, true},
		{"0.00us", 0, true},
		{"-1.00ms", 0, false},
		{"-nanus", 0, false},
		{"12", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := parseWrkTime(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseWrkTime(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestWrkArgs(t *testing.T) {
	t.Parallel()
	w := &Wrk{Threads: 2, Connections: 64}
	got := strings.Join(w.Args(WrkTarget{URL: "https://127.0.0.1:1/bench/hello", Host: "abcdefghij.us-east-1.portico.localhost"}, 10*time.Second), " ")
	want := "-t2 -c64 -d10s --latency -H Host: abcdefghij.us-east-1.portico.localhost https://127.0.0.1:1/bench/hello"
	if got != want {
		t.Errorf("args = %q, want %q", got, want)
	}
	// More headers follow Host; the URL stays last.
	got = strings.Join(w.Args(WrkTarget{URL: "https://127.0.0.1:1/bench/key", Host: "h", Headers: []string{"x-api-key: k", "X-Other: v"}}, 5*time.Second), " ")
	want = "-t2 -c64 -d5s --latency -H Host: h -H x-api-key: k -H X-Other: v https://127.0.0.1:1/bench/key"
	if got != want {
		t.Errorf("args with headers = %q, want %q", got, want)
	}
}

// FuzzParseWrk checks the parser never panics on arbitrary text and that
// whatever it accepts has both percentiles it promises.
func FuzzParseWrk(f *testing.F) {
	f.Add(wrkDirect)                             // clean run
	f.Add(wrkGatewayErrors)                      // socket errors and non-2xx lines
	f.Add(wrkSlow)                               // s and m units
	f.Add(wrkNoLatency)                          // no distribution
	f.Add("Requests/sec: 1\n50% 1ms\n99% 1ms\n") // the minimum it accepts
	f.Fuzz(func(t *testing.T, out string) {
		r, err := ParseWrk(out)
		if err != nil {
			return
		}
		if !(r.RPS >= 0) || r.P50 < 0 || r.P99 < 0 || r.Requests < 0 {
			t.Fatalf("accepted negative values: %+v", r)
		}
	})
}

// TestCheckHello checks that a target is probed the way wrk loads it
// (its Host and Headers), that only 200 with the hello body passes, and
// that the error names a credential header but never its value.
func TestCheckHello(t *testing.T) {
	t.Parallel()
	const hello = "hello\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "api.example" || r.Header.Get("x-api-key") != "s3cret" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		w.Header().Set("X-Cache", "Hit")
		io.WriteString(w, hello)
	}))
	defer srv.Close()
	ctx := context.Background()
	c := srv.Client()
	ok := WrkTarget{Name: "key", URL: srv.URL + "/hello", Host: "api.example", Headers: []string{"x-api-key: s3cret"}}
	if err := CheckHello(ctx, c, ok, hello); err != nil {
		t.Errorf("CheckHello: %v", err)
	}
	if status, h, body, err := ok.Get(ctx, c); err != nil || status != http.StatusOK || h.Get("X-Cache") != "Hit" || body != hello {
		t.Errorf("Get = %d, X-Cache %q, %q, %v; want 200, Hit, %q", status, h.Get("X-Cache"), body, err, hello)
	}
	if err := CheckHello(ctx, c, ok, "other\n"); err == nil {
		t.Error("a different body passed")
	}
	bare := ok
	bare.Headers = nil
	if status, _, _, err := bare.Get(ctx, c); err != nil || status != http.StatusForbidden {
		t.Errorf("Get without the header = %d, %v; want 403", status, err)
	}
	wrong := ok
	wrong.Headers = []string{"x-api-key: wrong"}
	err := CheckHello(ctx, c, wrong, hello)
	if err == nil || !strings.Contains(err.Error(), "with x-api-key") || strings.Contains(err.Error(), "wrong") ||
		!strings.Contains(err.Error(), `(Host "api.example")`) {
		t.Errorf("CheckHello with a wrong key: %v", err)
	}
	var pe permanentError
	if err := CheckHello(ctx, c, WrkTarget{URL: "://bad"}, hello); !errors.As(err, &pe) {
		t.Errorf("malformed URL: %v, want a permanent error", err)
	}
}

// TestMeasureServerCPU runs Measure with a stand-in for wrk that prints
// a canned summary and checks the server CPU time: the difference of the
// reads before and after the run, and none, with the run still measured,
// when either read fails. It is not parallel with the package's other
// tests: a child they fork while the script is open for writing would
// make its exec fail with ETXTBSY (golang.org/issue/22315).
func TestMeasureServerCPU(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	summary := filepath.Join(dir, "summary.txt")
	if err := os.WriteFile(summary, []byte(wrkDirect), 0o644); err != nil {
		t.Fatal(err)
	}
	fakeWrk := filepath.Join(dir, "wrk")
	if err := os.WriteFile(fakeWrk, []byte("#!/bin/sh\nexec cat '"+summary+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	errRead := errors.New("cannot read")
	tests := []struct {
		name    string
		reads   []error // per read, before then after: nil succeeds
		wantCPU time.Duration
		wantHas bool
	}{
		{name: "both reads", reads: []error{nil, nil}, wantCPU: 2 * time.Second, wantHas: true},
		{name: "before fails", reads: []error{errRead, nil}},
		{name: "after fails", reads: []error{nil, errRead}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cpu := []time.Duration{time.Second, 3 * time.Second}
			n := 0
			target := WrkTarget{Name: "fake", URL: "http://127.0.0.1:1/hello", ServerCPU: func() (time.Duration, error) {
				i := n
				n++
				if i >= len(cpu) {
					t.Errorf("ServerCPU read %d times, want %d", n, len(cpu))
					return 0, errRead
				}
				return cpu[i], tt.reads[i]
			}}
			w := &Wrk{Path: fakeWrk, Threads: 1, Connections: 1, Dir: t.TempDir(), Log: slog.New(slog.DiscardHandler)}
			r, err := w.Measure(t.Context(), target, "run1", time.Second)
			if err != nil {
				t.Fatalf("Measure: %v", err)
			}
			if r.Requests != 425873 || r.RPS != 42545.76 {
				t.Errorf("Measure = %+v, want wrkDirect's summary", r)
			}
			if n != len(cpu) {
				t.Errorf("ServerCPU read %d times, want %d", n, len(cpu))
			}
			if r.ServerCPU != tt.wantCPU || r.HasServerCPU != tt.wantHas {
				t.Errorf("server CPU %v (has %v), want %v (has %v)", r.ServerCPU, r.HasServerCPU, tt.wantCPU, tt.wantHas)
			}
		})
	}
}
