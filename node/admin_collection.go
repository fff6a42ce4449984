package node

import (
	"context"
	"net/http"

	"github.com/portico-gw/portico/configs"
)

// stateCollection is an access collection of the state that the admin API
// addresses by id in the path: usage plans, API keys, SigV4 credentials.
// Its fields are what the collections differ in.
type stateCollection[T any] struct {
	what  string // in a 404 answer: "api key"
	param string // the path value holding the id: "key"
	of    func(*configs.State) map[string]*T
	newID func() string // a random id, maybe taken
	// view is an entry as the admin API shows it.
	view func(st *configs.State, v *T) any
	// put (for patchEntry) and del store and delete an entry through the
	// store.
	put func(s Store, ctx context.Context, v *T) error
	del func(s Store, ctx context.Context, id string) error
}

var (
	planEntries = stateCollection[configs.UsagePlan]{what: "usage plan", param: "plan",
		of:    func(st *configs.State) map[string]*configs.UsagePlan { return st.Plans },
		newID: configs.NewPlanID,
		view:  func(st *configs.State, p *configs.UsagePlan) any { return planViewOf(st, p) },
		del:   Store.DeletePlan} // plans are stored through putPlanLocked
	keyEntries = stateCollection[configs.APIKey]{what: "api key", param: "key",
		of:    func(st *configs.State) map[string]*configs.APIKey { return st.Keys },
		newID: configs.NewKeyID,
		view:  func(_ *configs.State, k *configs.APIKey) any { return keyViewOf(k) },
		put:   Store.PutKey, del: Store.DeleteKey}
	credentialEntries = stateCollection[configs.Credential]{what: "credential", param: "id",
		of:    func(st *configs.State) map[string]*configs.Credential { return st.Credentials },
		newID: configs.NewCredentialID,
		view:  func(_ *configs.State, c *configs.Credential) any { return c.Redacted() },
		put:   Store.PutCredential, del: Store.DeleteCredential}
)

// lookup returns the entry of st with the id, or a 404.
func (k stateCollection[T]) lookup(st *configs.State, id string) (*T, error) {
	if v := k.of(st)[id]; v != nil {
		return v, nil
	}
	return nil, errorf(http.StatusNotFound, "%s %q not found", k.what, id)
}

// find returns the current state and the entry in it that r's path
// names, or a 404.
func (k stateCollection[T]) find(ad *Admin, r *http.Request) (*configs.State, *T, error) {
	st := ad.store.State()
	v, err := k.lookup(st, r.PathValue(k.param))
	return st, v, err
}

// fresh returns an id that no entry of st has.
func (k stateCollection[T]) fresh(st *configs.State) string {
	for {
		if id := k.newID(); k.of(st)[id] == nil {
			return id
		}
	}
}

// get is the GET handler: the view of the entry r's path names.
func (k stateCollection[T]) get(ad *Admin, r *http.Request) (int, any, error) {
	st, v, err := k.find(ad, r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, k.view(st, v), nil
}

// remove is the DELETE handler: holding writeMu, it deletes the entry r's
// path names and answers with its id.
func (k stateCollection[T]) remove(ad *Admin, r *http.Request) (int, any, error) {
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	id := r.PathValue(k.param)
	if _, err := k.lookup(ad.store.State(), id); err != nil {
		return 0, nil, err
	}
	if err := k.del(ad.store, r.Context(), id); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"deleted": id}, nil
}

// patchEntry is the PATCH handler of keys and credentials. fields is what
// a merge patch may change of an entry; r's patch is applied to those of
// the entry r's path names, and set checks the result and sets it on
// next, a copy of the entry. next is stored unless it is unchanged.
func patchEntry[T comparable, P any](ad *Admin, r *http.Request, k stateCollection[T],
	fields func(*T) P, set func(st *configs.State, p P, next *T) error) (int, any, error) {
	patch, err := readPatch(r)
	if err != nil {
		return 0, nil, err
	}
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	st, cur, err := k.find(ad, r)
	if err != nil {
		return 0, nil, err
	}
	var p P
	if err := applyPatch(fields(cur), patch, &p); err != nil {
		return 0, nil, err
	}
	next := *cur
	if err := set(st, p, &next); err != nil {
		return 0, nil, err
	}
	if next == *cur {
		return http.StatusOK, k.view(st, cur), nil
	}
	if err := k.put(ad.store, r.Context(), &next); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, k.view(ad.store.State(), &next), nil
}
