package node

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/portico-gw/portico/cluster"
	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/endpoints/auth"
)

// Access control in the admin API, after API Gateway's usage plans
// (create-usage-plan, create-usage-plan-key, get-usage), API keys
// (create-api-key, import) and the SigV4 credentials Portico issues for
// AWS_IAM routes; and a stage's throttle and WAF settings.
//
// Secrets are shown once: an API key's value and a credential's secret
// are in the answer that creates them and in no other answer.

// planRequest is the body of POST /v1/plans.
type planRequest struct {
	Name        string              `json:"name"`
	Description string              `json:"description,omitempty"`
	Throttle    *configs.Throttle   `json:"throttle,omitempty"`
	Quota       *configs.Quota      `json:"quota,omitempty"`
	Stages      []configs.PlanStage `json:"stages,omitempty"`
}

// planView is a usage plan with the number of API keys attached to it.
type planView struct {
	*configs.UsagePlan
	KeyCount int `json:"key_count"`
}

func planViewOf(st *configs.State, p *configs.UsagePlan) planView {
	return planView{UsagePlan: p, KeyCount: len(st.KeyList(p.ID))}
}

// keyRequest is the body of POST /v1/keys. Value imports an existing key
// (as API Gateway's import does); without it a key is generated.
type keyRequest struct {
	Name    string `json:"name"`
	PlanID  string `json:"plan_id,omitempty"`
	Enabled *bool  `json:"enabled,omitempty"` // default true
	Value   string `json:"value,omitempty"`
}

// keyView is an API key as the admin API shows it: never its value, and
// not its hash either (it identifies the value to anyone holding it).
type keyView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Hint      string    `json:"hint,omitempty"`
	PlanID    string    `json:"plan_id,omitempty"`
	Enabled   bool      `json:"enabled"`
	CreatedAt time.Time `json:"created_at"`
}

func keyViewOf(k *configs.APIKey) keyView {
	return keyView{ID: k.ID, Name: k.Name, Hint: k.Hint, PlanID: k.PlanID, Enabled: k.Enabled, CreatedAt: k.CreatedAt}
}

// keyCreated answers POST /v1/keys: the only answer with the value.
type keyCreated struct {
	keyView
	Value string `json:"value"`
}

// keyPatch is what PATCH /v1/keys/{key} may change.
type keyPatch struct {
	Name    string `json:"name"`
	PlanID  string `json:"plan_id,omitempty"`
	Enabled bool   `json:"enabled"`
}

// credentialPatch is what PATCH /v1/credentials/{id} may change.
type credentialPatch struct {
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
}

// stageSettings is the part of a stage PATCH .../settings changes.
type stageSettings struct {
	Throttle       *configs.Throttle           `json:"throttle,omitempty"`
	RouteThrottles map[string]configs.Throttle `json:"route_throttles,omitempty"`
	WAF            *configs.WAF                `json:"waf,omitempty"`
}

// usageReport answers GET /v1/usage: the daily request counts of a
// plan's keys (one key's with ?key=), from..to inclusive, sorted by key
// then day. Days without requests are left out.
type usageReport struct {
	Plan  string             `json:"plan"`
	Key   string             `json:"key,omitempty"`
	From  string             `json:"from"`
	To    string             `json:"to"`
	Items []cluster.UsageRow `json:"items"`
	Total int64              `json:"total"`
	Index uint64             `json:"index"`
}

// Key values and report ranges.
const (
	minKeyValue = 20  // API Gateway's least imported key value
	maxKeyValue = 128 // API Gateway's longest
	// defaultUsageDays is the report range without from (the last week).
	defaultUsageDays = 7
	// maxUsageDays is the longest report: what the cluster keeps.
	maxUsageDays = int(cluster.UsageRetention / (24 * time.Hour))
)

const (
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)

// randomString draws n characters of alphabet from crypto/rand without
// modulo bias.
func randomString(n int, alphabet string) string {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		rand.Read(buf[:]) // never fails (crypto/rand, Go 1.24+)
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// freshID returns prefix and n random characters that taken does not
// report as used.
func freshID(prefix string, n int, alphabet string, taken func(string) bool) string {
	for {
		if id := prefix + randomString(n, alphabet); !taken(id) {
			return id
		}
	}
}

// newSecret is a credential's secret access key: 40 base64 characters,
// the shape of an AWS one.
func newSecret() string {
	b := make([]byte, 30)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// keyHint is the start of a key value, enough to tell keys apart.
func keyHint(value string) string { return value[:4] + "…" }

func fieldError(status int, field, msg string, args ...any) *adminError {
	m := fmt.Sprintf(msg, args...)
	return &adminError{status: status, msg: m, fields: []configs.FieldError{{Field: field, Message: m}}}
}

// invalid names what a validation error is about (the admin API's
// default says "invalid definition").
func invalid(what string, err error) error {
	var ve *configs.ValidationError
	if errors.As(err, &ve) {
		return &adminError{status: http.StatusBadRequest, msg: "invalid " + what, fields: ve.Errors}
	}
	return err
}

// --- usage plans ---

func (ad *Admin) listPlans(r *http.Request) (int, any, error) {
	st := ad.store.State()
	out := []planView{}
	for _, p := range st.PlanList() {
		out = append(out, planViewOf(st, p))
	}
	return http.StatusOK, map[string]any{"plans": out, "index": st.Index}, nil
}

func (ad *Admin) plan(r *http.Request) (*configs.State, *configs.UsagePlan, error) {
	st := ad.store.State()
	id := r.PathValue("plan")
	p := st.Plans[id]
	if p == nil {
		return st, nil, errorf(http.StatusNotFound, "usage plan %q not found", id)
	}
	return st, p, nil
}

func (ad *Admin) getPlan(r *http.Request) (int, any, error) {
	st, p, err := ad.plan(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, planViewOf(st, p), nil
}

// planStages checks the stages a plan is to cover against the state. A
// stage of cur (the stored plan) that no longer exists was deleted after
// it was attached: it is dropped, since the log takes no plan covering a
// missing stage. A stage named anew must exist (404 naming stages[i]);
// one listed twice is a 400.
func planStages(st *configs.State, cur *configs.UsagePlan, next []configs.PlanStage) ([]configs.PlanStage, error) {
	var out []configs.PlanStage
	var missing, twice []configs.FieldError
	for i, s := range next {
		f := fmt.Sprintf("stages[%d]", i)
		switch {
		case slices.Contains(out, s):
			twice = append(twice, configs.FieldError{Field: f, Message: fmt.Sprintf("stage %s of api %s is listed twice", s.Stage, s.APIID)})
		case st.Stage(s.APIID, s.Stage) != nil:
			out = append(out, s)
		case cur != nil && cur.Covers(s.APIID, s.Stage):
			// deleted since it was attached: drop it
		case st.API(s.APIID) == nil:
			missing = append(missing, configs.FieldError{Field: f, Message: fmt.Sprintf("no API has the id %q", s.APIID)})
		default:
			missing = append(missing, configs.FieldError{Field: f, Message: fmt.Sprintf("api %s has no stage %q; deploy it first", s.APIID, s.Stage)})
		}
	}
	if len(twice) > 0 {
		return nil, &adminError{status: http.StatusBadRequest, msg: "a stage is listed twice", fields: twice}
	}
	if len(missing) > 0 {
		return nil, &adminError{status: http.StatusNotFound, msg: "stage not found", fields: missing}
	}
	return out, nil
}

func (ad *Admin) createPlan(r *http.Request) (int, any, error) {
	var req planRequest
	if err := decodeInto(r, &req); err != nil {
		return 0, nil, err
	}
	p := &configs.UsagePlan{Name: req.Name, Description: req.Description, Throttle: req.Throttle, Quota: req.Quota, Stages: req.Stages, CreatedAt: ad.now().UTC()}
	if err := p.Validate(); err != nil {
		return 0, nil, invalid("usage plan", err)
	}
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	st := ad.store.State()
	stages, err := planStages(st, nil, p.Stages)
	if err != nil {
		return 0, nil, err
	}
	p.Stages = stages
	p.ID = freshID("", 10, lowerAlnum, func(id string) bool { return st.Plans[id] != nil })
	if err := ad.store.PutPlan(r.Context(), p); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, planViewOf(ad.store.State(), p), nil
}

// patchPlan changes a plan by a JSON merge patch; the id cannot change.
func (ad *Admin) patchPlan(r *http.Request) (int, any, error) {
	patch, err := readPatch(r)
	if err != nil {
		return 0, nil, err
	}
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	st, cur, err := ad.plan(r)
	if err != nil {
		return 0, nil, err
	}
	var p configs.UsagePlan
	if err := applyPatch(cur, patch, &p); err != nil {
		return 0, nil, err
	}
	if p.ID != cur.ID {
		return 0, nil, fieldError(http.StatusBadRequest, "id", "the id of a usage plan cannot change (must be %s)", cur.ID)
	}
	p.CreatedAt = cur.CreatedAt
	if err := p.Validate(); err != nil {
		return 0, nil, invalid("usage plan", err)
	}
	if p.Stages, err = planStages(st, cur, p.Stages); err != nil {
		return 0, nil, err
	}
	return ad.putPlanLocked(r, st, cur, &p)
}

// putPlanLocked stores p unless it equals cur; writeMu is held.
func (ad *Admin) putPlanLocked(r *http.Request, st *configs.State, cur, p *configs.UsagePlan) (int, any, error) {
	if sameJSON(p, cur) {
		return http.StatusOK, planViewOf(st, cur), nil
	}
	if err := ad.store.PutPlan(r.Context(), p); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, planViewOf(ad.store.State(), p), nil
}

func (ad *Admin) deletePlan(r *http.Request) (int, any, error) {
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	_, p, err := ad.plan(r)
	if err != nil {
		return 0, nil, err
	}
	if err := ad.store.DeletePlan(r.Context(), p.ID); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"deleted": p.ID}, nil
}

// attachStage adds a stage to a plan (create-usage-plan's apiStages).
// It answers 201 when the stage was added, 200 when the plan already
// covered it.
func (ad *Admin) attachStage(r *http.Request) (int, any, error) {
	var req configs.PlanStage
	if err := decodeInto(r, &req); err != nil {
		return 0, nil, err
	}
	var problems []configs.FieldError
	if req.APIID == "" {
		problems = append(problems, configs.FieldError{Field: "api_id", Message: "is required"})
	}
	if req.Stage == "" {
		problems = append(problems, configs.FieldError{Field: "stage", Message: "is required"})
	}
	if len(problems) > 0 {
		return 0, nil, &adminError{status: http.StatusBadRequest, msg: "invalid stage", fields: problems}
	}
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	st, cur, err := ad.plan(r)
	if err != nil {
		return 0, nil, err
	}
	if st.API(req.APIID) == nil {
		return 0, nil, fieldError(http.StatusNotFound, "api_id", "no API has the id %q", req.APIID)
	}
	if st.Stage(req.APIID, req.Stage) == nil {
		return 0, nil, fieldError(http.StatusNotFound, "stage", "api %s has no stage %q; deploy it first", req.APIID, req.Stage)
	}
	p := *cur
	if p.Stages, err = planStages(st, cur, cur.Stages); err != nil {
		return 0, nil, err
	}
	status := http.StatusOK
	if !p.Covers(req.APIID, req.Stage) {
		p.Stages, status = append(p.Stages, req), http.StatusCreated
	}
	_, v, err := ad.putPlanLocked(r, st, cur, &p)
	return status, v, err
}

// detachStage removes a stage from a plan; the stage need not exist any
// more.
func (ad *Admin) detachStage(r *http.Request) (int, any, error) {
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	st, cur, err := ad.plan(r)
	if err != nil {
		return 0, nil, err
	}
	api, stage := r.PathValue("api"), r.PathValue("stage")
	if !cur.Covers(api, stage) {
		return 0, nil, errorf(http.StatusNotFound, "usage plan %s does not cover stage %s of api %s", cur.ID, stage, api)
	}
	p := *cur
	p.Stages = slices.DeleteFunc(slices.Clone(cur.Stages), func(s configs.PlanStage) bool { return s.APIID == api && s.Stage == stage })
	if p.Stages, err = planStages(st, cur, p.Stages); err != nil {
		return 0, nil, err
	}
	return ad.putPlanLocked(r, st, cur, &p)
}

// --- API keys ---

func (ad *Admin) listKeys(r *http.Request) (int, any, error) {
	st := ad.store.State()
	plan := r.URL.Query().Get("plan")
	if plan != "" && st.Plans[plan] == nil {
		return 0, nil, fieldError(http.StatusNotFound, "plan", "no usage plan has the id %q", plan)
	}
	out := []keyView{}
	for _, k := range st.KeyList(plan) {
		out = append(out, keyViewOf(k))
	}
	return http.StatusOK, map[string]any{"keys": out, "index": st.Index}, nil
}

func (ad *Admin) key(r *http.Request) (*configs.State, *configs.APIKey, error) {
	st := ad.store.State()
	id := r.PathValue("key")
	k := st.Keys[id]
	if k == nil {
		return st, nil, errorf(http.StatusNotFound, "api key %q not found", id)
	}
	return st, k, nil
}

func (ad *Admin) getKey(r *http.Request) (int, any, error) {
	_, k, err := ad.key(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, keyViewOf(k), nil
}

// validKeyValue checks an imported key value: API Gateway's length
// bounds, and characters a header carries unchanged.
func validKeyValue(v string) string {
	if len(v) < minKeyValue || len(v) > maxKeyValue {
		return fmt.Sprintf("must be %d to %d characters (it is %d)", minKeyValue, maxKeyValue, len(v))
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return "must be printable ASCII without spaces"
		}
	}
	return ""
}

// createKey stores a new API key: generated, or imported from value. The
// answer is the one place the value is ever shown.
func (ad *Admin) createKey(r *http.Request) (int, any, error) {
	var req keyRequest
	if err := decodeInto(r, &req); err != nil {
		return 0, nil, err
	}
	var problems []configs.FieldError
	if err := configs.ValidateName(req.Name); err != nil {
		problems = append(problems, err.(*configs.ValidationError).Errors...)
	}
	value := req.Value
	if value != "" {
		if msg := validKeyValue(value); msg != "" {
			problems = append(problems, configs.FieldError{Field: "value", Message: msg})
		}
	}
	if len(problems) > 0 {
		return 0, nil, &adminError{status: http.StatusBadRequest, msg: "invalid API key", fields: problems}
	}
	if value == "" {
		v, err := auth.GenerateKey()
		if err != nil {
			return 0, nil, err
		}
		value = v
	}
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	st := ad.store.State()
	if req.PlanID != "" && st.Plans[req.PlanID] == nil {
		return 0, nil, fieldError(http.StatusNotFound, "plan_id", "no usage plan has the id %q", req.PlanID)
	}
	hash := auth.HashKey(value)
	for _, k := range st.Keys {
		if k.Hash == hash {
			return 0, nil, fieldError(http.StatusConflict, "value", "an API key with this value already exists")
		}
	}
	k := &configs.APIKey{
		ID:   freshID("", 10, lowerAlnum, func(id string) bool { return st.Keys[id] != nil }),
		Name: req.Name, Hash: hash, Hint: keyHint(value), PlanID: req.PlanID,
		Enabled: req.Enabled == nil || *req.Enabled, CreatedAt: ad.now().UTC(),
	}
	if err := ad.store.PutKey(r.Context(), k); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, keyCreated{keyView: keyViewOf(k), Value: value}, nil
}

// patchKey changes a key's name, plan or enabled flag by a merge patch;
// plan_id null leaves the key without a plan.
func (ad *Admin) patchKey(r *http.Request) (int, any, error) {
	patch, err := readPatch(r)
	if err != nil {
		return 0, nil, err
	}
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	st, cur, err := ad.key(r)
	if err != nil {
		return 0, nil, err
	}
	var kp keyPatch
	if err := applyPatch(keyPatch{Name: cur.Name, PlanID: cur.PlanID, Enabled: cur.Enabled}, patch, &kp); err != nil {
		return 0, nil, err
	}
	if err := configs.ValidateName(kp.Name); err != nil {
		return 0, nil, invalid("API key", err)
	}
	if kp.PlanID != "" && st.Plans[kp.PlanID] == nil {
		return 0, nil, fieldError(http.StatusNotFound, "plan_id", "no usage plan has the id %q", kp.PlanID)
	}
	k := *cur
	k.Name, k.PlanID, k.Enabled = kp.Name, kp.PlanID, kp.Enabled
	if k == *cur {
		return http.StatusOK, keyViewOf(cur), nil
	}
	if err := ad.store.PutKey(r.Context(), &k); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, keyViewOf(&k), nil
}

func (ad *Admin) deleteKey(r *http.Request) (int, any, error) {
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	_, k, err := ad.key(r)
	if err != nil {
		return 0, nil, err
	}
	if err := ad.store.DeleteKey(r.Context(), k.ID); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"deleted": k.ID}, nil
}

// --- SigV4 credentials ---

func (ad *Admin) listCredentials(r *http.Request) (int, any, error) {
	st := ad.store.State()
	return http.StatusOK, map[string]any{"credentials": st.CredentialList(), "index": st.Index}, nil
}

func (ad *Admin) credential(r *http.Request) (*configs.Credential, error) {
	id := r.PathValue("id")
	c := ad.store.State().Credentials[id]
	if c == nil {
		return nil, errorf(http.StatusNotFound, "credential %q not found", id)
	}
	return c, nil
}

func (ad *Admin) getCredential(r *http.Request) (int, any, error) {
	c, err := ad.credential(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.Redacted(), nil
}

// createCredential issues an access key id ("PKIA" and 16 letters or
// digits) and a secret; the answer is the one place the secret is shown.
func (ad *Admin) createCredential(r *http.Request) (int, any, error) {
	var req struct {
		Name string `json:"name"`
	}
	if err := decodeInto(r, &req); err != nil {
		return 0, nil, err
	}
	if err := configs.ValidateName(req.Name); err != nil {
		return 0, nil, invalid("credential", err)
	}
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	st := ad.store.State()
	c := &configs.Credential{
		ID:   freshID("PKIA", 16, upperAlnum, func(id string) bool { return st.Credentials[id] != nil }),
		Name: req.Name, Secret: newSecret(), Enabled: true, CreatedAt: ad.now().UTC(),
	}
	if err := ad.store.PutCredential(r.Context(), c); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, c, nil
}

// patchCredential changes a credential's name or enabled flag.
func (ad *Admin) patchCredential(r *http.Request) (int, any, error) {
	patch, err := readPatch(r)
	if err != nil {
		return 0, nil, err
	}
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	cur, err := ad.credential(r)
	if err != nil {
		return 0, nil, err
	}
	var cp credentialPatch
	if err := applyPatch(credentialPatch{Name: cur.Name, Enabled: cur.Enabled}, patch, &cp); err != nil {
		return 0, nil, err
	}
	if err := configs.ValidateName(cp.Name); err != nil {
		return 0, nil, invalid("credential", err)
	}
	c := *cur
	c.Name, c.Enabled = cp.Name, cp.Enabled
	if c == *cur {
		return http.StatusOK, cur.Redacted(), nil
	}
	if err := ad.store.PutCredential(r.Context(), &c); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.Redacted(), nil
}

func (ad *Admin) deleteCredential(r *http.Request) (int, any, error) {
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	c, err := ad.credential(r)
	if err != nil {
		return 0, nil, err
	}
	if err := ad.store.DeleteCredential(r.Context(), c.ID); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"deleted": c.ID}, nil
}

// --- usage ---

// usage reports a plan's daily counts (get-usage). Without from and to
// it covers the last 7 days, today (UTC) included; a range spans at most
// 90 days. Only voters hold the counts: elsewhere it answers 503 (the
// CLI adds ?consistent, which forwards the request to the leader).
func (ad *Admin) usage(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	var problems []configs.FieldError
	bad := func(field, format string, args ...any) {
		problems = append(problems, configs.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	day := func(field string) (time.Time, bool) {
		v := q.Get(field)
		if v == "" {
			return time.Time{}, false
		}
		t, err := time.Parse(cluster.UsageDay, v)
		if err != nil {
			bad(field, "%q is not a date such as 2006-01-02", v)
		}
		return t, err == nil
	}
	plan := q.Get("plan")
	if plan == "" {
		bad("plan", "is required (a usage plan id)")
	}
	to, ok := day("to")
	if !ok {
		to = ad.now().UTC().Truncate(24 * time.Hour)
	}
	from, ok := day("from")
	if !ok {
		from = to.AddDate(0, 0, 1-defaultUsageDays)
	}
	if len(problems) == 0 {
		switch days := int(to.Sub(from)/(24*time.Hour)) + 1; {
		case to.Before(from):
			bad("to", "must not be before from (%s)", from.Format(cluster.UsageDay))
		case days > maxUsageDays:
			bad("from", "the range spans %d days; at most %d (usage is kept %d days)", days, maxUsageDays, maxUsageDays)
		}
	}
	if len(problems) > 0 {
		return 0, nil, &adminError{status: http.StatusBadRequest, msg: "invalid usage report request", fields: problems}
	}
	st := ad.store.State()
	if st.Plans[plan] == nil {
		return 0, nil, fieldError(http.StatusNotFound, "plan", "no usage plan has the id %q", plan)
	}
	u := ad.store.Usage()
	if u == nil {
		return 0, nil, errorf(http.StatusServiceUnavailable, "usage counts are held by control nodes only: ask a control node, or add ?consistent to have this node forward the request")
	}
	rep := usageReport{Plan: plan, Key: q.Get("key"), From: from.Format(cluster.UsageDay), To: to.Format(cluster.UsageDay), Index: st.Index}
	rep.Items = u.Report(plan, rep.Key, rep.From, rep.To)
	for _, row := range rep.Items {
		rep.Total += row.Count
	}
	return http.StatusOK, rep, nil
}

// --- stage throttle and WAF ---

// patchStageSettings changes a stage's throttle, route throttles and WAF
// by a JSON merge patch over {throttle, route_throttles, waf}; null
// removes one (a route's throttle too: {"route_throttles": {"GET /x": null}}).
func (ad *Admin) patchStageSettings(r *http.Request) (int, any, error) {
	patch, err := readPatch(r)
	if err != nil {
		return 0, nil, err
	}
	return ad.updateStage(r, func(st *configs.State, s *configs.Stage) error {
		var next stageSettings
		if err := applyPatch(stageSettings{Throttle: s.Throttle, RouteThrottles: s.RouteThrottles, WAF: s.WAF}, patch, &next); err != nil {
			return err
		}
		if len(next.RouteThrottles) == 0 {
			next.RouteThrottles = nil
		}
		s.Throttle, s.RouteThrottles, s.WAF = next.Throttle, next.RouteThrottles, next.WAF
		var routes []string
		if d := st.Deployment(s.APIID, s.DeploymentID); d != nil {
			routes = []string{}
			for _, op := range d.API.Operations() {
				routes = append(routes, op.Key())
			}
		}
		return invalid("stage settings", configs.ValidateStageAccess(s, routes))
	})
}
