package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testAKID   = "AKIDPORTICOEXAMPLE01"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testRegion = "eu-west-1"
)

type staticCreds map[string][2]string

func (c staticCreds) LookupAccessKey(id string) (string, string, bool) {
	v, ok := c[id]
	return v[0], v[1], ok
}

var testCreds = staticCreds{testAKID: {testSecret, "alice"}}

// sigv4Server verifies every request it gets and answers with the kind of
// the error (0 for success) and the public message, as JSON.
type sigv4Answer struct {
	Kind      Kind
	Message   string
	Reason    string
	Principal string
	Body      string
}

func newSigV4Server(t *testing.T, v *SigV4) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id, err := v.Verify(r, body)
		ans := sigv4Answer{Kind: KindOf(err), Principal: id.Principal, Body: string(body)}
		if e, ok := err.(*Error); ok {
			ans.Message, ans.Reason = e.PublicMessage(), e.Reason
		}
		_ = json.NewEncoder(w).Encode(ans)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newTestSigV4(t *testing.T, clock *testClock) *SigV4 {
	t.Helper()
	v, err := NewSigV4(SigV4Config{Region: testRegion, Credentials: testCreds, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sign signs req with the real AWS SDK signer.
func sign(t *testing.T, req *http.Request, body []byte, service, region string, at time.Time) {
	t.Helper()
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha256Hex(body), service, region, at); err != nil {
		t.Fatal(err)
	}
}

func send(t *testing.T, c *http.Client, req *http.Request) sigv4Answer {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans sigv4Answer
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		t.Fatal(err)
	}
	return ans
}

func newReq(t *testing.T, method, url string, body []byte) *http.Request {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestSigV4AgainstAWSSigner(t *testing.T) {
	t.Parallel()
	now := t0
	tests := []struct {
		name    string
		method  string
		target  string // path and query
		body    string
		headers map[string]string
		service string
		region  string
		at      time.Time
		mutate  func(r *http.Request) // after signing
		want    Kind
		wantMsg string
	}{
		{name: "GET with query", method: "GET", target: "/prod/pets?type=dog&limit=10&b=2&a=1&a=0&empty=&flag"},
		{name: "GET with escaped query", method: "GET", target: "/prod/search?q=hello+world&x=%2B1&t=%C3%A9t%C3%A9&s=a%20b&sym=%21%2A%27%28%29"},
		{name: "GET with escaped path", method: "GET", target: "/prod/pets/a%20b/%C3%A9/c~d-e_f.g/x%2Fy"},
		{name: "GET root", method: "GET", target: "/"},
		{name: "POST with a body", method: "POST", target: "/prod/pets", body: `{"name":"rex"}`,
			headers: map[string]string{"Content-Type": "application/json"}},
		{name: "PUT with an empty body", method: "PUT", target: "/prod/pets/1", body: ""},
		{name: "header with extra spaces", method: "GET", target: "/prod/pets",
			headers: map[string]string{"X-Custom": "a   b    c", "X-Other": "  padded  value "}},
		{name: "POST with a tampered body", method: "POST", target: "/prod/pets", body: `{"name":"rex"}`,
			mutate: func(r *http.Request) { setBody(r, `{"name":"mal"}`) }, want: KindInvalidSignature},
		{name: "tampered query", method: "GET", target: "/prod/pets?limit=10",
			mutate: func(r *http.Request) { r.URL.RawQuery = "limit=1000" }, want: KindInvalidSignature},
		{name: "tampered path", method: "GET", target: "/prod/pets/1",
			mutate: func(r *http.Request) { r.URL.Path = "/prod/pets/2" }, want: KindInvalidSignature},
		{name: "tampered signed header", method: "GET", target: "/prod/pets", headers: map[string]string{"X-Tenant": "a"},
			mutate: func(r *http.Request) { r.Header.Set("X-Tenant", "b") }, want: KindInvalidSignature},
		{name: "tampered method", method: "GET", target: "/prod/pets",
			mutate: func(r *http.Request) { r.Method = "DELETE" }, want: KindInvalidSignature},
		{name: "wrong region", method: "GET", target: "/prod/pets", region: "us-east-1",
			want: KindInvalidSignature, wantMsg: "Credential should be scoped to a valid region."},
		{name: "wrong service", method: "GET", target: "/prod/pets", service: "s3",
			want: KindInvalidSignature, wantMsg: "Credential should be scoped to correct service: 'execute-api'."},
		{name: "expired date", method: "GET", target: "/prod/pets", at: now.Add(-6 * time.Minute),
			want: KindInvalidSignature, wantMsg: "Signature expired"},
		{name: "date in the future", method: "GET", target: "/prod/pets", at: now.Add(6 * time.Minute),
			want: KindInvalidSignature, wantMsg: "Signature not yet current"},
		{name: "date just inside the window", method: "GET", target: "/prod/pets", at: now.Add(-4 * time.Minute)},
		{name: "unsigned host", method: "GET", target: "/prod/pets",
			mutate: func(r *http.Request) {
				a := r.Header.Get("Authorization")
				r.Header.Set("Authorization", strings.Replace(a, "SignedHeaders=host;", "SignedHeaders=", 1))
			}, want: KindInvalidSignature},
		{name: "no authorization", method: "GET", target: "/prod/pets",
			mutate: func(r *http.Request) { r.Header.Del("Authorization") }, want: KindMissingAuthenticationToken},
		{name: "bearer instead of sigv4", method: "GET", target: "/prod/pets",
			mutate: func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc") }, want: KindInvalidSignature},
		{name: "unknown access key", method: "GET", target: "/prod/pets",
			mutate: func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), testAKID, "AKIDUNKNOWN", 1))
			}, want: KindUnrecognizedClient},
		{name: "scope date differs from x-amz-date", method: "GET", target: "/prod/pets",
			mutate: func(r *http.Request) {
				r.Header.Set("X-Amz-Date", now.Add(-time.Minute).Add(-12*time.Hour).Format(amzDateFormat))
			}, want: KindInvalidSignature},
		{name: "content hash header that lies", method: "POST", target: "/prod/pets", body: "abc",
			mutate: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", sha256Hex([]byte("xyz"))) },
			want:   KindInvalidSignature, wantMsg: "x-amz-content-sha256"},
		{name: "unsigned payload refused", method: "POST", target: "/prod/pets", body: "abc",
			mutate: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") },
			want:   KindInvalidSignature},
		{name: "session token refused", method: "GET", target: "/prod/pets",
			headers: map[string]string{"X-Amz-Security-Token": "tok"}, want: KindUnrecognizedClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newTestSigV4(t, newClock(now))
			srv := newSigV4Server(t, v)
			var body []byte
			if tt.body != "" || tt.method != "GET" {
				body = []byte(tt.body)
			}
			req := newReq(t, tt.method, srv.URL+tt.target, body)
			for k, val := range tt.headers {
				req.Header.Set(k, val)
			}
			service, region, at := tt.service, tt.region, tt.at
			if service == "" {
				service = "execute-api"
			}
			if region == "" {
				region = testRegion
			}
			if at.IsZero() {
				at = now
			}
			sign(t, req, body, service, region, at)
			if tt.mutate != nil {
				tt.mutate(req)
			}
			ans := send(t, srv.Client(), req)
			if ans.Kind != tt.want {
				t.Fatalf("kind = %s (%s / %s), want %s", ans.Kind, ans.Message, ans.Reason, tt.want)
			}
			if tt.want == 0 && ans.Principal != "alice" {
				t.Fatalf("principal = %q", ans.Principal)
			}
			if !strings.Contains(ans.Message, tt.wantMsg) {
				t.Fatalf("message = %q, want it to contain %q", ans.Message, tt.wantMsg)
			}
		})
	}
}

func setBody(r *http.Request, s string) {
	r.Body = io.NopCloser(strings.NewReader(s))
	r.ContentLength = int64(len(s))
}

// TestSigV4Replay sends one signed request twice: the second is refused,
// while a re-signed request a second later (a new signature) passes.
func TestSigV4Replay(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	v := newTestSigV4(t, clock)
	srv := newSigV4Server(t, v)
	body := []byte(`{"amount":100}`)
	req := newReq(t, "POST", srv.URL+"/prod/pay", body)
	sign(t, req, body, "execute-api", testRegion, clock.Now())
	replay := req.Clone(context.Background())

	if ans := send(t, srv.Client(), req); ans.Kind != 0 {
		t.Fatalf("first: %+v", ans)
	}
	setBody(replay, string(body))
	clock.Advance(time.Minute)
	ans := send(t, srv.Client(), replay)
	if ans.Kind != KindInvalidSignature || ans.Message != "Signature has already been used." {
		t.Fatalf("replay: %+v", ans)
	}

	again := newReq(t, "POST", srv.URL+"/prod/pay", body)
	sign(t, again, body, "execute-api", testRegion, clock.Now())
	if ans := send(t, srv.Client(), again); ans.Kind != 0 {
		t.Fatalf("re-signed: %+v", ans)
	}

	// After the window the replay is refused for its date instead.
	clock.Advance(10 * time.Minute)
	replay2 := req.Clone(context.Background())
	setBody(replay2, string(body))
	if ans := send(t, srv.Client(), replay2); ans.Kind != KindInvalidSignature || !strings.Contains(ans.Message, "expired") {
		t.Fatalf("late replay: %+v", ans)
	}
}

// TestSigV4Presigned checks the query-string form made by PresignHTTP.
func TestSigV4Presigned(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	v := newTestSigV4(t, clock)
	srv := newSigV4Server(t, v)
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}

	presign := func(target string, expires time.Duration, payloadHash string) string {
		req := newReq(t, "GET", srv.URL+target, nil)
		if expires > 0 {
			q := req.URL.Query()
			q.Set("X-Amz-Expires", strconv.Itoa(int(expires/time.Second)))
			req.URL.RawQuery = q.Encode()
		}
		u, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, payloadHash, "execute-api", testRegion, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	get := func(u string) sigv4Answer { return send(t, srv.Client(), newReq(t, "GET", u, nil)) }

	u := presign("/prod/report?month=2025-05", time.Hour, sha256Hex(nil))
	for i := range 2 { // a presigned URL may be used again until it expires
		if ans := get(u); ans.Kind != 0 {
			t.Fatalf("use %d: %+v", i, ans)
		}
	}
	unsigned := presign("/prod/report", 0, "UNSIGNED-PAYLOAD")
	if ans := get(unsigned); ans.Kind != 0 {
		t.Fatalf("UNSIGNED-PAYLOAD presign without a body: %+v", ans)
	}
	tampered := strings.Replace(u, "month=2025-05", "month=2025-06", 1)
	if ans := get(tampered); ans.Kind != KindInvalidSignature {
		t.Fatalf("tampered presigned URL: %+v", ans)
	}
	clock.Advance(61 * time.Minute)
	if ans := get(u); ans.Kind != KindInvalidSignature || !strings.Contains(ans.Message, "expired") {
		t.Fatalf("expired presigned URL: %+v", ans)
	}
	long := presign("/prod/report", 8*24*time.Hour, sha256Hex(nil))
	if ans := get(long); ans.Kind != KindInvalidSignature {
		t.Fatalf("X-Amz-Expires over 7 days: %+v", ans)
	}
	pu, _ := url.Parse(u)
	pu.RawQuery = strings.Replace(pu.RawQuery, "X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1", 1)
	if ans := get(pu.String()); ans.Kind != KindInvalidSignature {
		t.Fatalf("wrong algorithm: %+v", ans)
	}
}

// TestSigV4InProcess verifies a request that never crossed the wire (no
// RequestURI), as a unit test or an in-process caller builds it.
func TestSigV4InProcess(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	v := newTestSigV4(t, clock)
	body := []byte("hello")
	req := newReq(t, "POST", "https://api.example.test/prod/x%20y?b=2&a=1", body)
	sign(t, req, body, "execute-api", testRegion, clock.Now())
	if _, err := v.Verify(req, body); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(req, body)
	wantKind(t, err, KindInvalidSignature)
}

func TestNewSigV4Validates(t *testing.T) {
	t.Parallel()
	if _, err := NewSigV4(SigV4Config{}); err == nil || !strings.Contains(err.Error(), "region") || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("err = %v", err)
	}
	v, err := NewSigV4(SigV4Config{Region: "r", Credentials: testCreds})
	if err != nil || v.service != "execute-api" || v.window != 5*time.Minute {
		t.Fatalf("defaults: %v %+v", err, v)
	}
}

func TestReplaySetBounded(t *testing.T) {
	t.Parallel()
	s := newReplaySet(64)
	now := t0
	for i := range 1000 {
		var k [16]byte
		k[0], k[1], k[2] = byte(i), byte(i>>8), 1
		if !s.add(k, now.Add(time.Minute), now) {
			t.Fatalf("key %d reported as seen", i)
		}
	}
	if n := s.len(); n > 64 {
		t.Fatalf("len = %d, want at most 64", n)
	}
	var k [16]byte
	k[0] = 7
	if !s.add(k, now.Add(time.Minute), now) || s.add(k, now.Add(time.Minute), now.Add(30*time.Second)) {
		t.Fatal("a fresh key must be new once and then seen")
	}
	if !s.add(k, now.Add(3*time.Minute), now.Add(2*time.Minute)) {
		t.Fatal("an expired key must be accepted again")
	}
}
