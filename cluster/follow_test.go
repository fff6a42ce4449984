package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/configs"
)

func waitFor(t *testing.T, within time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not met within %s: %v", within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFollowerFollowsPersistsAndServesWhenAlone(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	defer s.Close()
	srv := httptest.NewServer(StateHandler(s, nil))
	defer srv.Close()

	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	served, err := OpenServed(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFollower(FollowerConfig{Served: served, Peers: func() []string { return []string{srv.URL} }, Client: srv.Client(), Logger: log})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()

	a := testAPI("ffffffffff")
	if err := s.PutAPI(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	deployAPI(t, s, a, "dep001", "prod")
	want := s.State().Index
	waitFor(t, 10*time.Second, func() error {
		if got := served.State().Index; got != want {
			return fmt.Errorf("follower at index %d, want %d", got, want)
		}
		return nil
	})
	cancel()
	<-done

	// A restarted follower with no reachable peer serves what it had.
	served2, err := OpenServed(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	st := served2.State()
	if st.Index != want || st.Stage("ffffffffff", "prod") == nil || st.API("ffffffffff") == nil {
		t.Fatalf("persisted state after restart = index %d, stage %v", st.Index, st.Stage("ffffffffff", "prod"))
	}
}

func TestStateHandlerLongPoll(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	defer s.Close()
	srv := httptest.NewServer(StateHandler(s, nil))
	defer srv.Close()
	if err := s.PutAPI(context.Background(), testAPI("gggggggggg")); err != nil {
		t.Fatal(err)
	}
	idx := s.State().Index

	// Up to date: 304 after the wait, carrying the index.
	resp, err := http.Get(fmt.Sprintf("%s%s?after=%d&wait=50ms", srv.URL, StatePath, idx))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified || resp.Header.Get(HeaderIndex) != fmt.Sprint(idx) {
		t.Fatalf("up to date poll = %d index %q", resp.StatusCode, resp.Header.Get(HeaderIndex))
	}

	// A waiting poll returns as soon as a new entry applies.
	got := make(chan int, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("%s%s?after=%d&wait=20s", srv.URL, StatePath, idx))
		if err != nil {
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	if err := s.PutAPI(context.Background(), testAPI("hhhhhhhhhh")); err != nil {
		t.Fatal(err)
	}
	if code := <-got; code != http.StatusOK {
		t.Fatalf("waiting poll = %d, want 200", code)
	}

	// Bad input is a 400.
	resp, err = http.Get(srv.URL + StatePath + "?after=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("after=x: %d", resp.StatusCode)
	}
}

func TestFollowerRefusesAPeerThatIsBehind(t *testing.T) {
	t.Parallel()
	ahead := openStore(t, t.TempDir())
	defer ahead.Close()
	for _, id := range []string{"aaaaaaaaa1", "aaaaaaaaa2", "aaaaaaaaa3"} {
		if err := ahead.PutAPI(context.Background(), testAPI(id)); err != nil {
			t.Fatal(err)
		}
	}
	srvAhead := httptest.NewServer(StateHandler(ahead, nil))
	defer srvAhead.Close()
	// A misbehaving peer that answers with an older state regardless.
	srvBehind := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"index": 1, "apis": {}}`)
	}))
	defer srvBehind.Close()

	served, err := OpenServed(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFollower(FollowerConfig{Served: served, Peers: func() []string { return nil }, Client: http.DefaultClient})
	if err := f.poll(context.Background(), srvAhead.URL); err != nil {
		t.Fatal(err)
	}
	idx := served.State().Index
	if err := f.poll(context.Background(), srvBehind.URL); err == nil {
		t.Fatal("a peer behind the follower was accepted")
	}
	if served.State().Index != idx || served.State().API("aaaaaaaaa3") == nil {
		t.Fatalf("state changed after a stale answer: index %d -> %d", idx, served.State().Index)
	}
}

// A control node serves the newer of its persisted config and its FSM:
// after a restart its FSM may hold only the snapshot until a leader is
// known.
func TestServedKeepsTheNewerState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := OpenServed(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	newer := configs.NewState().WithAPI(5, testAPI("nnnnnnnnnn"))
	if err := s.Offer(newer, nil); err != nil {
		t.Fatal(err)
	}
	ch := s.Changed()
	if err := s.Offer(configs.NewState().WithIndex(3), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("an older state was published")
	default:
	}
	s2, err := OpenServed(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s2.State().Index != 5 || s2.State().API("nnnnnnnnnn") == nil {
		t.Fatalf("reopened served state = %d", s2.State().Index)
	}
}

// A control node that answers "nothing newer" while gossip announces a
// newer index is behind; the follower leaves it for another peer.
func TestFollowerLeavesAPeerStuckBehindTheCluster(t *testing.T) {
	t.Parallel()
	behind := openStore(t, t.TempDir())
	defer behind.Close()
	stop := make(chan struct{})
	srv := httptest.NewServer(StateHandler(behind, stop))
	defer srv.Close()
	served, err := OpenServed(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFollower(FollowerConfig{Served: served, Client: srv.Client(), Newest: func() uint64 { return 1000 }})
	if err := f.poll(context.Background(), srv.URL); err != nil { // takes what the peer has
		t.Fatal(err)
	}
	close(stop) // from now on the peer answers "nothing newer" at once
	if err := f.poll(context.Background(), srv.URL); err == nil || !strings.Contains(err.Error(), "peer is behind") {
		t.Fatalf("poll of a stale peer: err = %v, want peer is behind", err)
	}
}

// A rebuilt control plane starts again from low indexes: its config
// replaces the old one; a lower index of the same cluster never does.
func TestServedAcceptsALowerIndexOnlyFromAnotherCluster(t *testing.T) {
	t.Parallel()
	s, err := OpenServed(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	old := configs.NewState().WithClusterID(2, "aaaa").WithAPI(40, testAPI("oldoldoldo"))
	if err := s.Offer(old, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Offer(configs.NewState().WithClusterID(5, "aaaa"), nil); err != nil {
		t.Fatal(err)
	}
	if s.State().Index != 40 {
		t.Fatalf("a lower index of the same cluster replaced the config: %d", s.State().Index)
	}
	rebuilt := configs.NewState().WithClusterID(2, "bbbb").WithAPI(5, testAPI("newnewnewn"))
	if err := s.Offer(rebuilt, nil); err != nil {
		t.Fatal(err)
	}
	if st := s.State(); st.ClusterID != "bbbb" || st.API("newnewnewn") == nil {
		t.Fatalf("config of the rebuilt cluster not served: %+v", st.ClusterID)
	}
}
