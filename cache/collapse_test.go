package cache

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// followersWaiting returns a channel closed once n followers wait on a
// flight of the env's cache.
func followersWaiting(e *env, n int32) <-chan struct{} {
	var waiting atomic.Int32
	ch := make(chan struct{})
	e.c.onWait = func() {
		if waiting.Add(1) == n {
			close(ch)
		}
	}
	return ch
}

func TestCollapseConcurrentMisses(t *testing.T) {
	t.Parallel()
	const n = 100
	e := newEnv(t, "edge")
	ready := followersWaiting(e, n-1)
	o := &origin{}
	o.fn = func(w http.ResponseWriter, r *http.Request, bg bool) {
		within(t, ready, "followers")
		text("shared")(w, r, bg)
	}
	p := &Policy{TTL: time.Minute}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			w := e.get(p, o, "/pets")
			if w.Code != 200 || w.Body.String() != "shared" || w.Header().Get(HeaderXCache) != "Miss from edge" {
				t.Errorf("got %d %q %q", w.Code, w.Body.String(), w.Header().Get(HeaderXCache))
			}
		})
	}
	wg.Wait()
	if got := o.calls.Load(); got != 1 {
		t.Errorf("origin calls = %d, want 1", got)
	}
}

func TestLeaderCancelDoesNotFailFollowers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	ready := followersWaiting(e, 1)
	started, release := make(chan struct{}), make(chan struct{})
	var originCtxErr atomic.Value
	o := &origin{fn: func(w http.ResponseWriter, r *http.Request, bg bool) {
		close(started)
		within(t, release, "release")
		originCtxErr.Store(errString(r.Context().Err()))
		text("body")(w, r, bg)
	}}
	p := &Policy{TTL: time.Minute}

	ctx, cancel := context.WithCancel(context.Background())
	leaderDone := make(chan struct{})
	go func() {
		defer close(leaderDone)
		e.do(p, o, newRequest(http.MethodGet, "/pets").WithContext(ctx))
	}()
	within(t, started, "leader's fetch")
	follower := make(chan *httpResult, 1)
	go func() {
		w := e.get(p, o, "/pets")
		follower <- &httpResult{code: w.Code, body: w.Body.String()}
	}()
	within(t, ready, "follower")
	cancel()
	close(release)
	res := <-follower
	<-leaderDone
	if res.code != 200 || res.body != "body" {
		t.Errorf("follower got %d %q", res.code, res.body)
	}
	if got := originCtxErr.Load(); got != "" {
		t.Errorf("origin context error = %v, want none", got)
	}
	if o.calls.Load() != 1 {
		t.Errorf("origin calls = %d, want 1", o.calls.Load())
	}
}

func TestFollowerContextBoundsWait(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	ready := followersWaiting(e, 1)
	started, release := make(chan struct{}), make(chan struct{})
	o := &origin{fn: func(w http.ResponseWriter, r *http.Request, bg bool) {
		close(started)
		within(t, release, "release")
		text("late")(w, r, bg)
	}}
	p := &Policy{TTL: time.Minute}
	leaderDone := make(chan struct{})
	go func() {
		defer close(leaderDone)
		e.get(p, o, "/")
	}()
	within(t, started, "leader's fetch")

	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Hour))
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		done <- e.do(p, o, newRequest(http.MethodGet, "/").WithContext(ctx))
	}()
	within(t, ready, "follower")
	cancel() // as if the follower's client left
	select {
	case w := <-done:
		if code := w.Code; code != 200 {
			// A cancelled follower writes nothing; the recorder's default is 200.
			t.Errorf("cancelled follower status %d", code)
		}
		if w.Header().Get(HeaderXCache) != "" || w.Body.Len() != 0 {
			t.Errorf("cancelled follower wrote X-Cache %q, %d body bytes", w.Header().Get(HeaderXCache), w.Body.Len())
		}
	case <-time.After(10 * time.Second):
		t.Error("follower still waits after its context ended")
	}
	close(release)
	<-leaderDone
}

func TestUncacheableFollowersFetchThemselves(t *testing.T) {
	t.Parallel()
	const followers = 3
	e := newEnv(t, "edge")
	ready := followersWaiting(e, followers)
	o := &origin{}
	o.fn = func(w http.ResponseWriter, r *http.Request, bg bool) {
		if o.calls.Load() == 1 {
			within(t, ready, "followers")
		}
		text("private", "Set-Cookie", "session=1")(w, r, bg)
	}
	p := &Policy{TTL: time.Minute}
	var wg sync.WaitGroup
	for range followers + 1 {
		wg.Go(func() {
			w := e.get(p, o, "/me")
			if w.Body.String() != "private" || w.Header().Get("Set-Cookie") != "session=1" {
				t.Errorf("got %q, cookie %q", w.Body.String(), w.Header().Get("Set-Cookie"))
			}
		})
	}
	wg.Wait()
	if got := o.calls.Load(); got != followers+1 {
		t.Errorf("origin calls = %d, want %d", got, followers+1)
	}
}

type httpResult struct {
	code int
	body string
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestOversizedReleasesFollowersEarly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	ready := followersWaiting(e, 1)
	started, followerDone := make(chan struct{}), make(chan struct{})
	o := &origin{}
	o.fn = func(w http.ResponseWriter, r *http.Request, bg bool) {
		if o.calls.Load() != 1 {
			text("own")(w, r, bg)
			return
		}
		close(started)
		within(t, ready, "follower")
		_, _ = w.Write(make([]byte, 2000)) // over the limit: streams to the leader
		within(t, followerDone, "follower's own fetch")
	}
	p := &Policy{TTL: time.Minute, MaxEntryBytes: 1000}
	leader := make(chan int, 1)
	go func() { leader <- e.get(p, o, "/big").Body.Len() }()
	within(t, started, "leader's fetch")
	w := e.get(p, o, "/big")
	close(followerDone)
	expect(t, w, "Miss from edge", "own")
	if n := <-leader; n != 2000 {
		t.Errorf("leader got %d bytes, want 2000", n)
	}
}

func TestFollowerOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		leader   []string // leader's request headers
		follower []string
		ctx      func() (context.Context, context.CancelFunc)
		stale    bool // an entry within stale-if-error exists
		fail     bool // the origin fails
		code     int
		xc       string
		body     string
	}{
		{name: "other variant fetches itself", leader: []string{"Accept-Language", "en"}, follower: []string{"Accept-Language", "fr"},
			code: 200, xc: "Miss from edge", body: "own fr"},
		{name: "same variant shares", leader: []string{"Accept-Language", "en"}, follower: []string{"Accept-Language", "en"},
			code: 200, xc: "Miss from edge", body: "shared en"},
		{name: "failure within stale-if-error", stale: true, fail: true, code: 200, xc: "Stale from edge", body: "old"},
		{name: "failure without stale", fail: true, code: 200, xc: "Miss from edge", body: "own "},
		{name: "deadline", ctx: func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		}, code: http.StatusGatewayTimeout, xc: "Miss from edge"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "edge")
			p := &Policy{TTL: 10 * time.Second, StaleIfError: time.Minute}
			started, release := make(chan struct{}), make(chan struct{})
			var leading atomic.Bool
			o := &origin{fn: func(w http.ResponseWriter, r *http.Request, bg bool) {
				lang := r.Header.Get("Accept-Language")
				if !leading.CompareAndSwap(true, false) {
					text("own "+lang, "Vary", "Accept-Language")(w, r, bg)
					return
				}
				close(started)
				within(t, release, "release")
				if tc.fail {
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				text("shared "+lang, "Vary", "Accept-Language")(w, r, bg)
			}}
			if tc.stale {
				o.fn = func(w http.ResponseWriter, r *http.Request, bg bool) { text("old")(w, r, bg) }
				e.get(p, o, "/")
				e.clock.Advance(20 * time.Second)
				o.fn = func(w http.ResponseWriter, r *http.Request, bg bool) {
					close(started)
					within(t, release, "release")
					w.WriteHeader(http.StatusServiceUnavailable)
				}
			} else {
				leading.Store(true)
			}
			ready := followersWaiting(e, 1)
			leaderDone := make(chan struct{})
			go func() {
				defer close(leaderDone)
				e.get(p, o, "/", tc.leader...)
			}()
			within(t, started, "leader's fetch")
			r := newRequest(http.MethodGet, "/", tc.follower...)
			if tc.ctx != nil {
				ctx, cancel := tc.ctx()
				defer cancel()
				r = r.WithContext(ctx)
			} else {
				go func() {
					within(t, ready, "follower")
					close(release)
				}()
			}
			w := e.do(p, o, r)
			if tc.ctx != nil {
				close(release) // only once the follower gave up
			}
			<-leaderDone
			if w.Code != tc.code || w.Header().Get(HeaderXCache) != tc.xc || w.Body.String() != tc.body {
				t.Errorf("got %d %q %q, want %d %q %q", w.Code, w.Header().Get(HeaderXCache), w.Body.String(), tc.code, tc.xc, tc.body)
			}
		})
	}
}
