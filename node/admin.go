package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/configs"
)

// maxAdminBody bounds an admin request body (an API definition or an
// OpenAPI document).
const maxAdminBody = 10 << 20

// Store is what the admin API needs from the cluster. Writes may block
// until the entry is committed (bounded by ctx); reads never block.
type Store interface {
	State() *configs.State
	Status() cluster.Status
	PutAPI(ctx context.Context, a *configs.API) error
	DeleteAPI(ctx context.Context, id string) error
	Deploy(ctx context.Context, d *configs.Deployment, st *configs.Stage) error
	PutStage(ctx context.Context, st *configs.Stage) error
	DeleteStage(ctx context.Context, apiID, name string) error
	DeleteDeployment(ctx context.Context, apiID, id string) error
	FlushCache(ctx context.Context, apiID, stage, prefix string, at time.Time) (uint64, error)
	PutDomain(ctx context.Context, d *configs.Domain) error
	DeleteDomain(ctx context.Context, name string) error
	PutPlan(ctx context.Context, p *configs.UsagePlan) error
	DeletePlan(ctx context.Context, id string) error
	PutKey(ctx context.Context, k *configs.APIKey) error
	DeleteKey(ctx context.Context, id string) error
	PutCredential(ctx context.Context, c *configs.Credential) error
	DeleteCredential(ctx context.Context, id string) error
	// Usage is the committed usage counts; nil on a node that is not a
	// voter (usage reads are forwarded: see forwarder).
	Usage() *cluster.Usage
}

// Admin serves the JSON admin API.
type Admin struct {
	store  Store
	region string
	// invokeURLs returns the invoke URLs of a stage per endpoint type this
	// node serves.
	invokeURLs func(a *configs.API, stage string) map[string]string
	metrics    http.Handler
	cluster    *clusterAdmin // nil in tests of the API alone
	log        *slog.Logger
	now        func() time.Time
	// flushed, when set, is told about each committed cache flush (the
	// node gossips it). It must not block.
	flushed func(api, stage, prefix string, seq uint64)
	// explain, on a dns node, tells how a DNS query would be answered.
	explain func(name string, client netip.Addr, subnet netip.Prefix) any

	// writeMu serializes read-modify-write sequences (apply by name,
	// deploy onto a stage) so two admins cannot lose each other's update.
	writeMu sync.Mutex
}

// adminError is the one error type the admin API renders.
type adminError struct {
	status int
	msg    string
	fields []configs.FieldError
}

func (e *adminError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) *adminError {
	return &adminError{status: status, msg: fmt.Sprintf(format, args...)}
}

// tagged is an answer with a version, sent as its ETag header so that a
// client can make a later write conditional on it (If-Match).
type tagged interface {
	entityTag() string
}

// Handler returns the admin API.
func (ad *Admin) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, methods map[string]func(*http.Request) (int, any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			h, ok := methods[r.Method]
			if !ok {
				allow := make([]string, 0, len(methods))
				for m := range methods {
					allow = append(allow, m)
				}
				sort.Strings(allow)
				w.Header().Set("Allow", strings.Join(allow, ", "))
				ad.writeError(w, errorf(http.StatusMethodNotAllowed, "method %s is not allowed on %s", r.Method, r.URL.Path))
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
			status, body, err := h(r)
			if err != nil {
				ad.writeError(w, err)
				return
			}
			if t, ok := body.(tagged); ok {
				w.Header().Set("ETag", t.entityTag())
			}
			writeJSON(w, status, body)
		})
	}
	route("/v1/status", map[string]func(*http.Request) (int, any, error){"GET": ad.status})
	route("/v1/dns/explain", map[string]func(*http.Request) (int, any, error){"GET": ad.explainDNS})
	route("/v1/apis", map[string]func(*http.Request) (int, any, error){"GET": ad.listAPIs, "POST": ad.createAPI})
	route("/v1/apply", map[string]func(*http.Request) (int, any, error){"POST": ad.apply})
	route("/v1/import", map[string]func(*http.Request) (int, any, error){"POST": ad.importAPI})
	route("/v1/apis/{api}", map[string]func(*http.Request) (int, any, error){"GET": ad.getAPI, "PUT": ad.putAPI, "PATCH": ad.patchAPI, "DELETE": ad.deleteAPI})
	route("/v1/apis/{api}/deployments", map[string]func(*http.Request) (int, any, error){"GET": ad.listDeployments, "POST": ad.createDeployment})
	route("/v1/apis/{api}/deployments/{dep}", map[string]func(*http.Request) (int, any, error){"GET": ad.getDeployment, "DELETE": ad.deleteDeployment})
	route("/v1/apis/{api}/stages", map[string]func(*http.Request) (int, any, error){"GET": ad.listStages})
	route("/v1/apis/{api}/stages/{stage}", map[string]func(*http.Request) (int, any, error){"GET": ad.getStage, "DELETE": ad.deleteStage})
	route("/v1/apis/{api}/stages/{stage}/variables", map[string]func(*http.Request) (int, any, error){"PUT": ad.setVariables})
	route("/v1/apis/{api}/stages/{stage}/rollback", map[string]func(*http.Request) (int, any, error){"POST": ad.rollback})
	route("/v1/apis/{api}/stages/{stage}/cache", map[string]func(*http.Request) (int, any, error){"PATCH": ad.patchStageCache})
	route("/v1/apis/{api}/stages/{stage}/cache/flush", map[string]func(*http.Request) (int, any, error){"POST": ad.flushCache})
	route("/v1/apis/{api}/stages/{stage}/export", map[string]func(*http.Request) (int, any, error){"GET": ad.export})
	route("/v1/domains", map[string]func(*http.Request) (int, any, error){"GET": ad.listDomains, "POST": ad.createDomain})
	route("/v1/domains/{name}", map[string]func(*http.Request) (int, any, error){"GET": ad.getDomain, "DELETE": ad.deleteDomain})
	route("/v1/domains/{name}/mappings/{base}", map[string]func(*http.Request) (int, any, error){"GET": ad.getMapping, "PUT": ad.putMapping, "DELETE": ad.deleteMapping})
	route("/v1/apis/{api}/stages/{stage}/settings", map[string]func(*http.Request) (int, any, error){"PATCH": ad.patchStageSettings})
	route("/v1/plans", map[string]func(*http.Request) (int, any, error){"GET": ad.listPlans, "POST": ad.createPlan})
	route("/v1/plans/{plan}", map[string]func(*http.Request) (int, any, error){"GET": ad.getPlan, "PATCH": ad.patchPlan, "DELETE": ad.deletePlan})
	route("/v1/plans/{plan}/stages", map[string]func(*http.Request) (int, any, error){"POST": ad.attachStage})
	route("/v1/plans/{plan}/stages/{api}/{stage}", map[string]func(*http.Request) (int, any, error){"DELETE": ad.detachStage})
	route("/v1/keys", map[string]func(*http.Request) (int, any, error){"GET": ad.listKeys, "POST": ad.createKey})
	route("/v1/keys/{key}", map[string]func(*http.Request) (int, any, error){"GET": ad.getKey, "PATCH": ad.patchKey, "DELETE": ad.deleteKey})
	route("/v1/credentials", map[string]func(*http.Request) (int, any, error){"GET": ad.listCredentials, "POST": ad.createCredential})
	route("/v1/credentials/{id}", map[string]func(*http.Request) (int, any, error){"GET": ad.getCredential, "PATCH": ad.patchCredential, "DELETE": ad.deleteCredential})
	route("/v1/usage", map[string]func(*http.Request) (int, any, error){"GET": ad.usage})
	if ad.cluster != nil {
		ad.cluster.routes(route)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	if ad.metrics != nil {
		mux.Handle("/metrics", ad.metrics)
	}
	// Go's runtime profiles (CPU, heap, goroutines, traces), for the
	// operator: the admin listener is loopback-bound by default.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		ad.writeError(w, errorf(http.StatusNotFound, "no admin endpoint at %s", r.URL.Path))
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	if body == nil {
		w.WriteHeader(status)
		return
	}
	b, err := json.MarshalIndent(body, "", "  ")
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"encode response"}`)
	}
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// writeError renders any error as the admin JSON error body.
func (ad *Admin) writeError(w http.ResponseWriter, err error) {
	body := struct {
		Message string               `json:"message"`
		Errors  []configs.FieldError `json:"errors,omitempty"`
		Leader  string               `json:"leader,omitempty"`
	}{Message: err.Error()}
	status := http.StatusInternalServerError
	var ae *adminError
	var ve *configs.ValidationError
	var nl *cluster.ErrNotLeader
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		status, body.Errors = ae.status, ae.fields
	case errors.As(err, &ve):
		status, body.Message, body.Errors = http.StatusBadRequest, "invalid definition: "+ve.Error(), ve.Errors
	case errors.As(err, &nl):
		status, body.Leader = http.StatusServiceUnavailable, nl.LeaderID
	case errors.Is(err, cluster.ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, cluster.ErrOutcomeUnknown):
		// Not 503: the write may have been applied, so it must not be
		// resent blindly. Check the state, then decide.
		status = http.StatusGatewayTimeout
	case errors.As(err, &tooBig):
		status, body.Message = http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)
	}
	switch {
	case status == http.StatusServiceUnavailable:
		ad.log.Warn("admin write refused: no leader here", "err", err) // elections; clients retry
	case status >= 500:
		ad.log.Error("admin request failed", "err", err)
	}
	writeJSON(w, status, body)
}

func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, err
		}
		return nil, errorf(http.StatusBadRequest, "read request body: %v", err)
	}
	return b, nil
}

// decodeInto reads a strict YAML or JSON request body into v.
func decodeInto(r *http.Request, v any) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	if err := configs.DecodeStrict(b, v); err != nil {
		return badRequest(err)
	}
	return nil
}

// badRequest makes a decode or validation error a 400, keeping field paths.
func badRequest(err error) error {
	var ve *configs.ValidationError
	if errors.As(err, &ve) {
		return err
	}
	return errorf(http.StatusBadRequest, "%v", err)
}

func (ad *Admin) api(r *http.Request) (*configs.State, *configs.API, error) {
	st := ad.store.State()
	id := r.PathValue("api")
	a := st.API(id)
	if a == nil {
		return st, nil, errorf(http.StatusNotFound, "api %q not found", id)
	}
	return st, a, nil
}

func (ad *Admin) status(r *http.Request) (int, any, error) {
	return http.StatusOK, ad.store.Status(), nil
}
