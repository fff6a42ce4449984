package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// maxJWKSBytes bounds a JWKS response. Real key sets are a few KB.
const maxJWKSBytes = 1 << 20

// failureBackoff is the longest wait after a failed JWKS fetch before the
// next try, so a briefly unreachable identity provider at startup does not
// lock every caller out for a whole refetch interval.
const failureBackoff = 5 * time.Second

// jwksSource holds the current key set of one JWKS URL (or a static set)
// and refetches it: when it is older than maxAge (in the background, the
// old set keeps serving) and when a token names a kid the set lacks (the
// caller waits). Fetches are single-flight and at most one starts per
// minInterval (failureBackoff after a failure), so tokens with random kids
// cannot make Portico hammer the identity provider. A failed fetch keeps
// the last good set.
type jwksSource struct {
	url         string
	client      *http.Client
	timeout     time.Duration
	maxAge      time.Duration
	minInterval time.Duration
	now         func() time.Time
	log         *slog.Logger

	set atomic.Pointer[keySet]

	mu     sync.Mutex
	call   *fetchCall // the fetch in flight, if any
	next   time.Time  // no fetch starts before this
	closed bool

	ctx     context.Context // cancelled by close; parent of every fetch
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	fetches atomic.Int64 // fetch attempts, for tests and metrics
}

type fetchCall struct {
	done chan struct{}
	err  error
}

var errNoKeySet = errors.New("no jwks key set has been loaded")

func newJWKSSource(url string, client *http.Client, timeout, maxAge, minInterval time.Duration, now func() time.Time, log *slog.Logger) *jwksSource {
	ctx, cancel := context.WithCancel(context.Background())
	return &jwksSource{
		url: url, client: client, timeout: timeout, maxAge: maxAge,
		minInterval: minInterval, now: now, log: log,
		ctx: ctx, cancel: cancel,
	}
}

// key returns the key for kid and a, and the set it came from. It may block on a fetch, at most for
// the fetch timeout or until ctx ends. The error is an *Error:
// KindUnauthorized when the set simply has no such key,
// KindAuthorizerUnavailable when no set could ever be loaded.
func (j *jwksSource) key(ctx context.Context, kid string, a alg) (*verifyKey, *keySet, error) {
	s := j.current()
	if k := s.find(kid, a); k != nil {
		return k, s, nil
	}
	if j.url == "" {
		return nil, nil, fail(KindUnauthorized, fmt.Sprintf("no key for kid %q and alg %s", kid, a))
	}
	if c := j.start(); c != nil {
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, nil, failErr(KindAuthorizerUnavailable, "waiting for jwks", ctx.Err())
		}
		s = j.set.Load()
		if k := s.find(kid, a); k != nil {
			return k, s, nil
		}
		if s == nil {
			return nil, nil, failErr(KindAuthorizerUnavailable, "jwks", c.err)
		}
	} else if s == nil {
		return nil, nil, failErr(KindAuthorizerUnavailable, "jwks fetch rate-limited", errNoKeySet)
	}
	return nil, nil, fail(KindUnauthorized, fmt.Sprintf("no key for kid %q and alg %s", kid, a))
}

// current returns the key set in use (nil before the first load) and
// starts a background refresh when it is older than maxAge.
func (j *jwksSource) current() *keySet {
	s := j.set.Load()
	if s != nil && j.url != "" && j.now().Sub(s.fetched) > j.maxAge {
		j.start() // this request keeps using s
	}
	return s
}

// start returns the fetch in flight, starts one if the rate limit allows,
// or returns nil.
func (j *jwksSource) start() *fetchCall {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.call != nil {
		return j.call
	}
	now := j.now()
	if j.closed || now.Before(j.next) {
		return nil
	}
	j.next = now.Add(j.minInterval)
	c := &fetchCall{done: make(chan struct{})}
	j.call = c
	j.wg.Add(1)
	go j.fetch(c, now)
	return c
}

func (j *jwksSource) fetch(c *fetchCall, started time.Time) {
	defer j.wg.Done()
	j.fetches.Add(1)
	s, err := j.get()
	if err == nil {
		j.set.Store(s)
	} else {
		j.log.Warn("jwks fetch failed; keeping the last key set", "url", j.url, "err", err)
	}
	j.mu.Lock()
	j.call = nil
	if err != nil {
		if retry := started.Add(failureBackoff); retry.Before(j.next) {
			j.next = retry
		}
	}
	j.mu.Unlock()
	c.err = err
	close(c.done)
}

func (j *jwksSource) get() (*keySet, error) {
	ctx, cancel := context.WithTimeout(j.ctx, j.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks request: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks get: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("jwks get: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks read: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("jwks larger than %d bytes", maxJWKSBytes)
	}
	s, skipped, err := parseJWKS(body, j.now())
	for _, e := range skipped {
		j.log.Warn("jwks key skipped", "url", j.url, "err", e)
	}
	return s, err
}

// refresh fetches now unless a fetch is in flight (then it waits for that
// one) or the rate limit forbids it (then it returns nil if a set is
// loaded).
func (j *jwksSource) refresh(ctx context.Context) error {
	c := j.start()
	if c == nil {
		if j.set.Load() == nil {
			return errNoKeySet
		}
		return nil
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops fetches in flight and waits for them.
func (j *jwksSource) close() {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	j.cancel()
	j.wg.Wait()
}
