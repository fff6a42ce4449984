package node

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/endpoints/auth"
)

// Secrets are shown once: an API key's value and a credential's secret
// are in the answer that creates them and in no other answer.

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

// Key values.
const (
	minKeyValue = 20  // API Gateway's least imported key value
	maxKeyValue = 128 // API Gateway's longest
)

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

func (ad *Admin) getKey(r *http.Request) (int, any, error) { return keyEntries.get(ad, r) }

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
		ID:   keyEntries.fresh(st),
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
	return patchEntry(ad, r, keyEntries,
		func(k *configs.APIKey) keyPatch { return keyPatch{Name: k.Name, PlanID: k.PlanID, Enabled: k.Enabled} },
		func(st *configs.State, kp keyPatch, k *configs.APIKey) error {
			if err := configs.ValidateName(kp.Name); err != nil {
				return invalid("API key", err)
			}
			if kp.PlanID != "" && st.Plans[kp.PlanID] == nil {
				return fieldError(http.StatusNotFound, "plan_id", "no usage plan has the id %q", kp.PlanID)
			}
			k.Name, k.PlanID, k.Enabled = kp.Name, kp.PlanID, kp.Enabled
			return nil
		})
}

func (ad *Admin) deleteKey(r *http.Request) (int, any, error) { return keyEntries.remove(ad, r) }

// --- SigV4 credentials ---

func (ad *Admin) listCredentials(r *http.Request) (int, any, error) {
	st := ad.store.State()
	return http.StatusOK, map[string]any{"credentials": st.CredentialList(), "index": st.Index}, nil
}

func (ad *Admin) getCredential(r *http.Request) (int, any, error) {
	return credentialEntries.get(ad, r)
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
		ID:   credentialEntries.fresh(st),
		Name: req.Name, Secret: newSecret(), Enabled: true, CreatedAt: ad.now().UTC(),
	}
	if err := ad.store.PutCredential(r.Context(), c); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, c, nil
}

// patchCredential changes a credential's name or enabled flag.
func (ad *Admin) patchCredential(r *http.Request) (int, any, error) {
	return patchEntry(ad, r, credentialEntries,
		func(c *configs.Credential) credentialPatch { return credentialPatch{Name: c.Name, Enabled: c.Enabled} },
		func(_ *configs.State, cp credentialPatch, c *configs.Credential) error {
			if err := configs.ValidateName(cp.Name); err != nil {
				return invalid("credential", err)
			}
			c.Name, c.Enabled = cp.Name, cp.Enabled
			return nil
		})
}

func (ad *Admin) deleteCredential(r *http.Request) (int, any, error) {
	return credentialEntries.remove(ad, r)
}
