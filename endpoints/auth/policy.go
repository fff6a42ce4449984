package auth

import (
	"encoding/json"
	"strings"
)

// policyDocument is the IAM policy an API Gateway Lambda authorizer
// returns. Only what decides execute-api:Invoke is read: Effect, Action
// and Resource; Condition and NotAction/NotResource are not supported and
// make a statement never match.
type policyDocument struct {
	Statement statements `json:"Statement"`
}

type statement struct {
	Effect      string     `json:"Effect"`
	Action      stringList `json:"Action"`
	Resource    stringList `json:"Resource"`
	NotAction   stringList `json:"NotAction"`
	NotResource stringList `json:"NotResource"`
	Condition   any        `json:"Condition"`
}

// statements is a Statement array, or a single statement object as IAM
// also accepts.
type statements []statement

func (s *statements) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var one statement
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = statements{one}
		return nil
	}
	var many []statement
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// evaluate applies IAM's rule for one request: an explicit Deny wins, then
// an Allow, and anything else is an implicit deny.
func (p *policyDocument) evaluate(arn string) (allow, explicitDeny bool) {
	for _, st := range p.Statement {
		if !st.matches(arn) {
			continue
		}
		switch st.Effect {
		case "Deny":
			return false, true
		case "Allow":
			allow = true
		}
	}
	return allow, false
}

func (st *statement) matches(arn string) bool {
	if st.Condition != nil || len(st.NotAction) > 0 || len(st.NotResource) > 0 {
		return false
	}
	action := false
	for _, a := range st.Action {
		// IAM action names are case-insensitive.
		if globMatch(strings.ToLower(a), "execute-api:invoke") {
			action = true
			break
		}
	}
	if !action {
		return false
	}
	for _, r := range st.Resource {
		if globMatch(r, arn) {
			return true
		}
	}
	return false
}

// globMatch matches s against an IAM pattern where "*" is any run of
// characters and "?" any one character. It runs in O(len(p)·len(s)) at
// worst, without recursion.
func globMatch(p, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		switch {
		case px < len(p) && (p[px] == '?' || p[px] == s[sx]):
			px++
			sx++
		case px < len(p) && p[px] == '*':
			starP, starS = px, sx
			px++
		case starP >= 0:
			starS++
			px, sx = starP+1, starS
		default:
			return false
		}
	}
	for px < len(p) && p[px] == '*' {
		px++
	}
	return px == len(p)
}
