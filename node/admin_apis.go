package node

import (
	"net/http"

	"github.com/portico-gw/portico/configs"
)

// applyResult is the answer to apply, create, update and import.
type applyResult struct {
	API     *configs.API `json:"api"`
	Created bool         `json:"created"`
	// Unchanged is true when the stored definition already matched.
	Unchanged bool `json:"unchanged,omitempty"`
}

func (ad *Admin) listAPIs(r *http.Request) (int, any, error) {
	return http.StatusOK, map[string]any{"apis": ad.store.State().APIList(), "index": ad.store.State().Index}, nil
}

func (ad *Admin) getAPI(r *http.Request) (int, any, error) {
	_, a, err := ad.api(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a, nil
}

// parseDefinition reads a native definition or an OpenAPI document,
// fills defaults and validates it. Nothing is stored.
func (ad *Admin) parseDefinition(r *http.Request, want func(configs.Format) error) (*configs.API, error) {
	b, err := readBody(r)
	if err != nil {
		return nil, err
	}
	a, f, err := configs.LoadAPI(b)
	if err != nil {
		return nil, badRequest(err)
	}
	if want != nil {
		if err := want(f); err != nil {
			return nil, err
		}
	}
	region := ad.region
	if r := r.Header.Get(headerRegion); r != "" {
		region = r // the node that accepted the write, when forwarded
	}
	a.ApplyDefaults(region)
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return a, nil
}

func onlyOpenAPI(f configs.Format) error {
	if f != configs.FormatOpenAPI {
		return errorf(http.StatusBadRequest, "the document is not OpenAPI 3.0 (it has no top-level \"openapi\" key)")
	}
	return nil
}

func (ad *Admin) createAPI(r *http.Request) (int, any, error) {
	a, err := ad.parseDefinition(r, nil)
	if err != nil {
		return 0, nil, err
	}
	if a.ID != "" {
		return 0, nil, &adminError{status: http.StatusBadRequest, msg: "id is assigned by the gateway; use PUT /v1/apis/{id} or /v1/apply to update",
			fields: []configs.FieldError{{Field: "id", Message: "must not be set on create"}}}
	}
	return ad.create(r, a)
}

func (ad *Admin) importAPI(r *http.Request) (int, any, error) {
	a, err := ad.parseDefinition(r, onlyOpenAPI)
	if err != nil {
		return 0, nil, err
	}
	a.ID = ""
	return ad.create(r, a)
}

// putAPI replaces an API's definition (native or OpenAPI). The stages keep
// serving their deployments until the next deploy.
func (ad *Admin) putAPI(r *http.Request) (int, any, error) {
	a, err := ad.parseDefinition(r, nil)
	if err != nil {
		return 0, nil, err
	}
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	_, cur, err := ad.api(r)
	if err != nil {
		return 0, nil, err
	}
	if a.ID != "" && a.ID != cur.ID {
		return 0, nil, &adminError{status: http.StatusBadRequest, msg: "id in the body does not match the URL",
			fields: []configs.FieldError{{Field: "id", Message: "must be " + cur.ID + " or empty"}}}
	}
	a.ID = cur.ID
	return ad.storeLocked(r, a, cur)
}

// apply creates or updates: by id when the definition has one, else by
// name when exactly one API has that name, else it creates.
func (ad *Admin) apply(r *http.Request) (int, any, error) {
	a, err := ad.parseDefinition(r, nil)
	if err != nil {
		return 0, nil, err
	}
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	st := ad.store.State()
	var cur *configs.API
	switch {
	case a.ID != "":
		if cur = st.API(a.ID); cur == nil {
			return 0, nil, &adminError{status: http.StatusNotFound, msg: "api " + a.ID + " not found; remove id to create a new API",
				fields: []configs.FieldError{{Field: "id", Message: "no API has this id"}}}
		}
	default:
		named := st.APIsNamed(a.Name)
		if len(named) > 1 {
			return 0, nil, &adminError{status: http.StatusConflict, msg: "several APIs are named " + a.Name + "; set id to pick one",
				fields: []configs.FieldError{{Field: "name", Message: "is ambiguous"}}}
		}
		if len(named) == 1 {
			cur = named[0]
			a.ID = cur.ID
		}
	}
	if cur == nil {
		a.ID = newUniqueID(st)
		return ad.storeLocked(r, a, nil)
	}
	return ad.storeLocked(r, a, cur)
}

func (ad *Admin) create(r *http.Request, a *configs.API) (int, any, error) {
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	a.ID = newUniqueID(ad.store.State())
	return ad.storeLocked(r, a, nil)
}

// storeLocked writes a validated API; cur is the stored version or nil.
func (ad *Admin) storeLocked(r *http.Request, a, cur *configs.API) (int, any, error) {
	if cur != nil && sameJSON(a, cur) {
		return http.StatusOK, applyResult{API: cur, Unchanged: true}, nil
	}
	if err := ad.store.PutAPI(r.Context(), a); err != nil {
		return 0, nil, err
	}
	if cur == nil {
		return http.StatusCreated, applyResult{API: a, Created: true}, nil
	}
	return http.StatusOK, applyResult{API: a}, nil
}

func newUniqueID(st *configs.State) string {
	for {
		if id := configs.NewAPIID(); st.API(id) == nil {
			return id
		}
	}
}

func (ad *Admin) deleteAPI(r *http.Request) (int, any, error) {
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	_, a, err := ad.api(r)
	if err != nil {
		return 0, nil, err
	}
	if err := ad.store.DeleteAPI(r.Context(), a.ID); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"deleted": a.ID}, nil
}
