package node

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/configs"
)

// deployRequest is the body of POST /v1/apis/{api}/deployments, the
// equivalent of `aws apigateway create-deployment`.
type deployRequest struct {
	Stage       string `json:"stage"`
	Description string `json:"description,omitempty"`
	// StageDescription is set on a stage the deployment creates.
	StageDescription string `json:"stage_description,omitempty"`
	// Variables are set on the stage (other keys are kept).
	Variables map[string]string `json:"variables,omitempty"`
}

// stageView is a stage with the URLs that invoke it.
type stageView struct {
	*configs.Stage
	InvokeURLs map[string]string `json:"invoke_urls"`
}

func (ad *Admin) view(a *configs.API, st *configs.Stage) stageView {
	return stageView{Stage: st, InvokeURLs: ad.invokeURLs(a, st.Name)}
}

// entityTag is the stage's version, its ChangedIndex, as the ETag of an
// answer that shows one stage.
func (v stageView) entityTag() string { return stageTag(v.Stage) }

// stageTag renders a stage's ChangedIndex as a strong entity tag, such
// as "42".
func stageTag(s *configs.Stage) string {
	return `"` + strconv.FormatUint(s.ChangedIndex, 10) + `"`
}

// ifMatch is the version an If-Match header asks a stage write to find:
// any version of an existing stage for *, else one ChangedIndex.
type ifMatch struct {
	header     string // as sent, for the error
	anyVersion bool
	index      uint64
}

// parseIfMatch reads a request's If-Match header: nil without one. It
// takes *, or one entity tag holding a decimal ChangedIndex, strong
// ("42") or weak (W/"42"); anything else is a 400.
func parseIfMatch(r *http.Request) (*ifMatch, error) {
	vals := r.Header.Values("If-Match")
	if len(vals) == 0 {
		return nil, nil
	}
	m := &ifMatch{header: strings.TrimSpace(strings.Join(vals, ", "))}
	if m.header == "*" {
		m.anyVersion = true
		return m, nil
	}
	digits, opened := strings.CutPrefix(strings.TrimPrefix(m.header, "W/"), `"`)
	digits, closed := strings.CutSuffix(digits, `"`)
	n, err := strconv.ParseUint(digits, 10, 64)
	if !opened || !closed || err != nil {
		return nil, errorf(http.StatusBadRequest, `If-Match %q is not * or one entity tag such as "42" (the stage's changed_index in quotes, as its ETag shows)`, m.header)
	}
	m.index = n
	return m, nil
}

// check answers 412 when the stage is not at the version m asks for; a
// nil m asks for nothing.
func (m *ifMatch) check(s *configs.Stage) error {
	if m == nil || m.anyVersion || m.index == s.ChangedIndex {
		return nil
	}
	return errorf(http.StatusPreconditionFailed, "If-Match %s does not match the stage's current version %s: it changed since it was read; read it again and retry", m.header, stageTag(s))
}

func (ad *Admin) createDeployment(r *http.Request) (int, any, error) {
	var req deployRequest
	if err := decodeInto(r, &req); err != nil {
		return 0, nil, err
	}
	var problems []configs.FieldError
	if req.Stage != "" {
		if err := configs.ValidateStageName(req.Stage); err != nil {
			problems = append(problems, configs.FieldError{Field: "stage", Message: "must be 1-128 letters, digits, - or _"})
		}
	}
	for field, v := range map[string]string{"description": req.Description, "stage_description": req.StageDescription} {
		if len(v) > configs.MaxDescriptionLength {
			problems = append(problems, configs.FieldError{Field: field, Message: fmt.Sprintf("must be at most %d characters", configs.MaxDescriptionLength)})
		}
	}
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	st, a, err := ad.api(r)
	if err != nil {
		return 0, nil, err
	}
	var stage *configs.Stage
	now := ad.now().UTC()
	dep := &configs.Deployment{ID: newDeploymentID(st, a.ID), APIID: a.ID, Description: req.Description, CreatedAt: now, API: *a.Clone()}
	if req.Stage != "" {
		stage = &configs.Stage{APIID: a.ID, Name: req.Stage, Description: req.StageDescription, CreatedAt: now}
		if cur := st.Stage(a.ID, req.Stage); cur != nil {
			c := *cur
			stage = &c
			stage.Variables = maps.Clone(cur.Variables)
		}
		stage.DeploymentID, stage.UpdatedAt = dep.ID, now
		for k, v := range req.Variables {
			if stage.Variables == nil {
				stage.Variables = map[string]string{}
			}
			stage.Variables[k] = v
		}
		if err := configs.ValidateStageVariables(stage.Variables); err != nil {
			problems = append(problems, err.(*configs.ValidationError).Errors...)
		}
	} else if len(req.Variables) > 0 {
		problems = append(problems, configs.FieldError{Field: "variables", Message: "need a stage"})
	}
	if len(problems) > 0 {
		return 0, nil, &configs.ValidationError{Errors: problems}
	}
	if err := ad.store.Deploy(r.Context(), dep, stage); err != nil {
		return 0, nil, err
	}
	// index is at least the deployment's log index: the leader applied it
	// before Deploy returned. `deploy --wait` waits for nodes to reach it.
	body := map[string]any{"deployment": deploymentSummary(dep), "index": ad.store.State().Index}
	if stage != nil {
		body["stage"] = ad.storedView(a, stage)
	}
	return http.StatusCreated, body, nil
}

func newDeploymentID(st *configs.State, apiID string) string {
	for {
		if id := configs.NewDeploymentID(); st.Deployment(apiID, id) == nil {
			return id
		}
	}
}

// deploymentSummary leaves out the API snapshot, which GET of one
// deployment returns in full.
func deploymentSummary(d *configs.Deployment) map[string]any {
	return map[string]any{"id": d.ID, "api_id": d.APIID, "description": d.Description, "created_at": d.CreatedAt}
}

func (ad *Admin) listDeployments(r *http.Request) (int, any, error) {
	st, a, err := ad.api(r)
	if err != nil {
		return 0, nil, err
	}
	out := []map[string]any{}
	for _, d := range st.DeploymentList(a.ID) {
		s := deploymentSummary(d)
		s["stages"] = st.StagesUsing(a.ID, d.ID)
		out = append(out, s)
	}
	return http.StatusOK, map[string]any{"deployments": out}, nil
}

func (ad *Admin) deployment(r *http.Request) (*configs.State, *configs.API, *configs.Deployment, error) {
	st, a, err := ad.api(r)
	if err != nil {
		return nil, nil, nil, err
	}
	d := st.Deployment(a.ID, r.PathValue("dep"))
	if d == nil {
		return nil, nil, nil, errorf(http.StatusNotFound, "deployment %q of api %s not found", r.PathValue("dep"), a.ID)
	}
	return st, a, d, nil
}

func (ad *Admin) getDeployment(r *http.Request) (int, any, error) {
	_, _, d, err := ad.deployment(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, d, nil
}

func (ad *Admin) deleteDeployment(r *http.Request) (int, any, error) {
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	st, a, d, err := ad.deployment(r)
	if err != nil {
		return 0, nil, err
	}
	if used := st.StagesUsing(a.ID, d.ID); len(used) > 0 {
		return 0, nil, errorf(http.StatusConflict, "deployment %s is used by stage(s) %v; roll them to another deployment or delete them first", d.ID, used)
	}
	if err := ad.store.DeleteDeployment(r.Context(), a.ID, d.ID); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"deleted": d.ID}, nil
}

func (ad *Admin) listStages(r *http.Request) (int, any, error) {
	st, a, err := ad.api(r)
	if err != nil {
		return 0, nil, err
	}
	out := []stageView{}
	for _, s := range st.StageList(a.ID) {
		out = append(out, ad.view(a, s))
	}
	return http.StatusOK, map[string]any{"stages": out}, nil
}

func (ad *Admin) stage(r *http.Request) (*configs.State, *configs.API, *configs.Stage, error) {
	st, a, err := ad.api(r)
	if err != nil {
		return nil, nil, nil, err
	}
	s := st.Stage(a.ID, r.PathValue("stage"))
	if s == nil {
		return nil, nil, nil, errorf(http.StatusNotFound, "stage %q of api %s not found", r.PathValue("stage"), a.ID)
	}
	return st, a, s, nil
}

func (ad *Admin) getStage(r *http.Request) (int, any, error) {
	_, a, s, err := ad.stage(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ad.view(a, s), nil
}

func (ad *Admin) deleteStage(r *http.Request) (int, any, error) {
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	_, a, s, err := ad.stage(r)
	if err != nil {
		return 0, nil, err
	}
	if err := ad.store.DeleteStage(r.Context(), a.ID, s.Name); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"deleted": s.Name}, nil
}

// setVariables replaces a stage's variables.
func (ad *Admin) setVariables(r *http.Request) (int, any, error) {
	var req struct {
		Variables map[string]string `json:"variables"`
	}
	if err := decodeInto(r, &req); err != nil {
		return 0, nil, err
	}
	if err := configs.ValidateStageVariables(req.Variables); err != nil {
		return 0, nil, err
	}
	return ad.updateStage(r, func(_ *configs.State, s *configs.Stage) error {
		s.Variables = req.Variables
		return nil
	})
}

// rollback points a stage at an earlier deployment: the one named in the
// body, else the deployment created before the current one.
func (ad *Admin) rollback(r *http.Request) (int, any, error) {
	var req struct {
		DeploymentID string `json:"deployment_id"`
	}
	if r.ContentLength != 0 {
		if err := decodeInto(r, &req); err != nil {
			return 0, nil, err
		}
	}
	return ad.updateStage(r, func(st *configs.State, s *configs.Stage) error {
		if req.DeploymentID == "" {
			prev := st.PreviousDeployment(s.APIID, s.DeploymentID)
			if prev == nil {
				return errorf(http.StatusConflict, "stage %s has no deployment older than %s to roll back to", s.Name, s.DeploymentID)
			}
			req.DeploymentID = prev.ID
		}
		if st.Deployment(s.APIID, req.DeploymentID) == nil {
			return &adminError{status: http.StatusNotFound, msg: "deployment " + req.DeploymentID + " not found",
				fields: []configs.FieldError{{Field: "deployment_id", Message: "no such deployment of this API"}}}
		}
		s.DeploymentID = req.DeploymentID
		return nil
	})
}

// deployedRoutes returns the route keys of the deployment stage s serves,
// for checking per-route settings against them: nil when the deployment
// is not known (nothing to check against), else a non-nil list, empty for
// a deployment without routes (every per-route setting is then unknown).
func deployedRoutes(st *configs.State, s *configs.Stage) []string {
	d := st.Deployment(s.APIID, s.DeploymentID)
	if d == nil {
		return nil
	}
	routes := []string{}
	for _, op := range d.API.Operations() {
		routes = append(routes, op.Key())
	}
	return routes
}

// updateStage changes a stage by change and stores it. With an If-Match
// header it changes nothing unless the stage is still at that version
// (optimistic concurrency: see ifMatch). The answer shows the stage as
// stored, with the write's ChangedIndex.
func (ad *Admin) updateStage(r *http.Request, change func(*configs.State, *configs.Stage) error) (int, any, error) {
	want, err := parseIfMatch(r)
	if err != nil {
		return 0, nil, err
	}
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	st, a, cur, err := ad.stage(r)
	if err != nil {
		return 0, nil, err
	}
	if err := want.check(cur); err != nil {
		return 0, nil, err
	}
	s := *cur
	s.Variables = maps.Clone(cur.Variables)
	if err := change(st, &s); err != nil {
		return 0, nil, err
	}
	s.UpdatedAt = ad.now().UTC()
	if err := ad.store.PutStage(r.Context(), &s); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ad.storedView(a, &s), nil
}

// storedView is the view of stage s just written: the stage as stored,
// which carries the write's ChangedIndex (the leader applied the write
// before the store call returned; s, a copy made before it, does not).
func (ad *Admin) storedView(a *configs.API, s *configs.Stage) stageView {
	if stored := ad.store.State().Stage(a.ID, s.Name); stored != nil {
		return ad.view(a, stored)
	}
	return ad.view(a, s)
}

// export renders the stage's deployed definition as OpenAPI 3.0.
func (ad *Admin) export(r *http.Request) (int, any, error) {
	st, a, s, err := ad.stage(r)
	if err != nil {
		return 0, nil, err
	}
	d := st.Deployment(a.ID, s.DeploymentID)
	if d == nil {
		return 0, nil, errorf(http.StatusConflict, "stage %s points at missing deployment %s", s.Name, s.DeploymentID)
	}
	urls := ad.invokeURLs(&d.API, s.Name)
	server := urls[string(configs.EndpointRegional)]
	for _, k := range slices.Sorted(maps.Keys(urls)) {
		if server == "" {
			server = urls[k]
		}
	}
	doc, err := configs.ExportOpenAPI(d, s, server)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, json.RawMessage(doc), nil
}

// sameJSON compares two definitions by their stored form.
func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
