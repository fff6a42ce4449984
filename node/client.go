package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/portico-gw/portico/configs"
)

// Client talks to a node's admin API.
type Client struct {
	Base string // http://host:port
	HTTP *http.Client
}

// APIError is an admin API error answer.
type APIError struct {
	Status  int                  `json:"-"`
	Message string               `json:"message"`
	Errors  []configs.FieldError `json:"errors"`
}

func (e *APIError) Error() string {
	if len(e.Errors) == 0 {
		return e.Message
	}
	var b strings.Builder
	b.WriteString(strings.SplitN(e.Message, ":", 2)[0])
	for _, fe := range e.Errors {
		b.WriteString("\n  " + fe.Error())
	}
	return b.String()
}

// NewClient returns a client for an admin address (host:port or URL).
func NewClient(addr string) *Client {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return &Client{Base: strings.TrimRight(addr, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// retryNoLeader bounds how long Do retries a 503: the cluster is electing
// a leader and the request was not applied, so resending it is safe.
const retryNoLeader = 10 * time.Second

// Do sends a request with an optional body (bytes are sent raw, anything
// else as JSON) and decodes the JSON answer into out (when not nil). A 503
// (no Raft leader yet) is retried for up to 10 s.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	return c.DoWith(ctx, method, path, nil, body, out)
}

// DoWith is Do with extra request headers, such as If-Match.
func (c *Client) DoWith(ctx context.Context, method, path string, header http.Header, body, out any) error {
	deadline := time.Now().Add(retryNoLeader)
	for wait := 50 * time.Millisecond; ; wait = min(wait*2, time.Second) {
		err := c.do(ctx, method, path, header, body, out)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

func (c *Client) do(ctx context.Context, method, path string, header http.Header, body, out any) error {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return err
	}
	maps.Copy(req.Header, header)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		var ue interface{ Timeout() bool }
		if errors.As(err, &ue) && ue.Timeout() {
			return fmt.Errorf("admin API at %s did not answer in time: %w", c.Base, err)
		}
		return fmt.Errorf("cannot reach the admin API at %s (is a node running? start one with `make run`): %w", c.Base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read admin answer: %w", err)
	}
	if resp.StatusCode >= 400 {
		ae := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(data, ae) != nil || ae.Message == "" {
			ae.Message = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(data)))
		}
		return ae
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = append((*raw)[:0], data...)
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode admin answer: %w", err)
	}
	return nil
}
