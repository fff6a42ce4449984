package main

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/simulations/harness"
)

// The node's identity: invoke hosts are {apiId}.{region}.{zone}, and the
// node's generated certificate covers *.{region}.{zone} and 127.0.0.1.
const (
	nodeRegion = "us-east-1"
	nodeZone   = "portico.localhost"
	benchStage = "bench"
)

// The usage plan of the API key route: limits so far above what one
// node can serve that they never refuse a request, so the route measures
// the cost of checking them, not their effect.
const (
	planRate  = 1e6 // requests per second
	planBurst = 1e6
	planQuota = 1e9 // requests per DAY
)

// benchNode is the gateway under test, every listener on a free port (as
// proxybench's).
var benchNode = harness.SingleNode{Driver: "accessbench", Region: nodeRegion, Zone: nodeZone}

// apiDefinition is the API under test: three GET resources proxying to
// the same backend route, one per access mode. /jwt needs a token from
// the benchmark's provider (whose JWKS is at jwksURL) carrying
// tokenScope; /key needs an API key whose usage plan covers the stage.
func apiDefinition(jwksURL string) string {
	const integration = `
        integration:
          type: HTTP_PROXY
          uri: http://${stageVariables.backend}/hello
          timeout: 5s`
	return `name: accessbench
description: access pipeline benchmark (simulations/cmd/accessbench)
authorizers:
  - name: jwt
    type: JWT
    issuer: ` + strconv.Quote(tokenIssuer) + `
    audiences: [` + strconv.Quote(tokenAudience) + `]
    jwks_uri: ` + strconv.Quote(jwksURL) + `
resources:
  - path: /open
    methods:
      GET:
        authorization: NONE` + integration + `
  - path: /jwt
    methods:
      GET:
        authorization: JWT
        authorizer: jwt
        authorization_scopes: [` + strconv.Quote(tokenScope) + `]` + integration + `
  - path: /key
    methods:
      GET:
        api_key_required: true` + integration + `
`
}

// planRequest is the body of POST /v1/plans (node/admin_plans.go), whose
// throttle, quota and stages are Portico's own types.
type planRequest struct {
	Name     string              `json:"name"`
	Throttle configs.Throttle    `json:"throttle"`
	Quota    configs.Quota       `json:"quota"`
	Stages   []configs.PlanStage `json:"stages"`
}

// benchPlan is the usage plan that covers the bench stage of apiID.
func benchPlan(apiID string) planRequest {
	return planRequest{
		Name:     "accessbench",
		Throttle: configs.Throttle{RateLimit: planRate, BurstLimit: planBurst},
		Quota:    configs.Quota{Limit: planQuota, Period: configs.QuotaDay},
		Stages:   []configs.PlanStage{{APIID: apiID, Stage: benchStage}},
	}
}

// createKey creates benchPlan and an API key on it on gw and returns the
// key's value, which only this answer carries.
func createKey(ctx context.Context, gw *harness.Portico) (planID, value string, err error) {
	planBody, _ := json.Marshal(benchPlan(gw.APIID))
	var plan struct {
		ID string `json:"id"`
	}
	if err := gw.AdminDo(ctx, "POST", "/v1/plans", planBody, &plan); err != nil {
		return "", "", err
	}
	if plan.ID == "" {
		return "", "", errors.New("POST /v1/plans: the answer has no id")
	}
	keyBody, _ := json.Marshal(map[string]string{"name": "accessbench", "plan_id": plan.ID})
	var key struct {
		Value string `json:"value"`
	}
	if err := gw.AdminDo(ctx, "POST", "/v1/keys", keyBody, &key); err != nil {
		return "", "", err
	}
	if key.Value == "" {
		return "", "", errors.New("POST /v1/keys: the answer has no value")
	}
	return plan.ID, key.Value, nil
}
