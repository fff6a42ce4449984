package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/portico-gw/portico/configs"
	"sigs.k8s.io/yaml"
)

// patchAPI changes an API by a JSON merge patch (RFC 7396): the fields in
// the body replace the stored ones, null removes one. `portico apis
// update` uses it. The result is validated as a whole before anything is
// stored.
func (ad *Admin) patchAPI(r *http.Request) (int, any, error) {
	patch, err := readPatch(r)
	if err != nil {
		return 0, nil, err
	}
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	_, cur, err := ad.api(r)
	if err != nil {
		return 0, nil, err
	}
	var a configs.API
	if err := applyPatch(cur, patch, &a); err != nil {
		return 0, nil, err
	}
	if a.ID != cur.ID {
		return 0, nil, &adminError{status: http.StatusBadRequest, msg: "the id of an API cannot change",
			fields: []configs.FieldError{{Field: "id", Message: "must be " + cur.ID}}}
	}
	a.ApplyDefaults(cur.HomeRegion)
	if err := a.Validate(); err != nil {
		return 0, nil, err
	}
	return ad.storeLocked(r, &a, cur)
}

// patchStageCache changes a stage's cache settings by a JSON merge patch;
// a null body turns the cache off and removes its settings.
func (ad *Admin) patchStageCache(r *http.Request) (int, any, error) {
	patch, err := readPatch(r)
	if err != nil {
		return 0, nil, err
	}
	return ad.updateStage(r, func(st *configs.State, s *configs.Stage) error {
		var c *configs.StageCache
		if err := applyPatch(s.Cache, patch, &c); err != nil {
			return err
		}
		if err := c.Validate(deployedRoutes(st, s)); err != nil {
			return err
		}
		s.Cache = c
		return nil
	})
}

// flushCache invalidates a stage's caches on every node: the flush is
// committed through Raft (so a node that misses the gossip still drops
// the entries once it catches up), then gossiped so every cache drops
// them within seconds.
func (ad *Admin) flushCache(r *http.Request) (int, any, error) {
	var req struct {
		Prefix string `json:"prefix,omitempty"`
	}
	if r.ContentLength != 0 {
		if err := decodeInto(r, &req); err != nil {
			return 0, nil, err
		}
	}
	if req.Prefix != "" && (!strings.HasPrefix(req.Prefix, "/") || len(req.Prefix) > 1024) {
		return 0, nil, &adminError{status: http.StatusBadRequest, msg: "invalid prefix",
			fields: []configs.FieldError{{Field: "prefix", Message: "must be a path starting with / (stage-relative, e.g. /pets), at most 1024 characters"}}}
	}
	_, a, s, err := ad.stage(r)
	if err != nil {
		return 0, nil, err
	}
	seq, err := ad.store.FlushCache(r.Context(), a.ID, s.Name, req.Prefix, ad.now().UTC())
	if err != nil {
		return 0, nil, err
	}
	if ad.flushed != nil {
		ad.flushed(a.ID, s.Name, req.Prefix, seq)
	}
	return http.StatusOK, map[string]any{"api_id": a.ID, "stage": s.Name, "prefix": req.Prefix, "seq": seq, "index": seq}, nil
}

// readPatch reads a merge-patch body, JSON or YAML.
func readPatch(r *http.Request) ([]byte, error) {
	b, err := readBody(r)
	if err != nil {
		return nil, err
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "patch is neither JSON nor YAML: %v", err)
	}
	return j, nil
}

// applyPatch merges patch into cur's JSON form and decodes the result
// strictly into out.
func applyPatch(cur any, patch []byte, out any) error {
	doc, err := json.Marshal(cur)
	if err != nil {
		return fmt.Errorf("encode current value: %w", err)
	}
	merged, err := mergePatch(doc, patch)
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	if err := configs.DecodeStrict(merged, out); err != nil {
		return badRequest(err)
	}
	return nil
}

// mergePatch applies an RFC 7396 JSON merge patch to doc.
func mergePatch(doc, patch []byte) ([]byte, error) {
	var d, p any
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("current value: %w", err)
	}
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	return json.Marshal(merge(d, p))
}

func merge(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = merge(tm[k], v)
	}
	return tm
}
