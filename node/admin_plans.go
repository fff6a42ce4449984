package node

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/portico-gw/portico/configs"
)

// Access control in the admin API, after API Gateway's usage plans
// (create-usage-plan, create-usage-plan-key, get-usage), API keys
// (create-api-key, import) and the SigV4 credentials Portico issues for
// AWS_IAM routes; and a stage's throttle and WAF settings.

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

// planViewOf is p with its key count, at the cost of one scan of the
// keys; listPlans counts for every plan in a single scan instead.
func planViewOf(st *configs.State, p *configs.UsagePlan) planView {
	n := 0
	for _, k := range st.Keys {
		if k.PlanID == p.ID {
			n++
		}
	}
	return planView{UsagePlan: p, KeyCount: n}
}

// --- usage plans ---

func (ad *Admin) listPlans(r *http.Request) (int, any, error) {
	st := ad.store.State()
	keys := make(map[string]int, len(st.Plans)) // by plan id
	for _, k := range st.Keys {
		keys[k.PlanID]++
	}
	out := []planView{}
	for _, p := range st.PlanList() {
		out = append(out, planView{UsagePlan: p, KeyCount: keys[p.ID]})
	}
	return http.StatusOK, map[string]any{"plans": out, "index": st.Index}, nil
}

func (ad *Admin) getPlan(r *http.Request) (int, any, error) { return planEntries.get(ad, r) }

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
	p.ID = planEntries.fresh(st)
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
	st, cur, err := planEntries.find(ad, r)
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

func (ad *Admin) deletePlan(r *http.Request) (int, any, error) { return planEntries.remove(ad, r) }

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
	st, cur, err := planEntries.find(ad, r)
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
	st, cur, err := planEntries.find(ad, r)
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
