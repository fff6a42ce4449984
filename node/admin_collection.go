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
	// del deletes an entry through the store.
	del func(s Store, ctx context.Context, id string) error
}

var (
	planEntries = stateCollection[configs.UsagePlan]{what: "usage plan", param: "plan",
		of: func(st *configs.State) map[string]*configs.UsagePlan { return st.Plans }, del: Store.DeletePlan}
	keyEntries = stateCollection[configs.APIKey]{what: "api key", param: "key",
		of: func(st *configs.State) map[string]*configs.APIKey { return st.Keys }, del: Store.DeleteKey}
	credentialEntries = stateCollection[configs.Credential]{what: "credential", param: "id",
		of: func(st *configs.State) map[string]*configs.Credential { return st.Credentials }, del: Store.DeleteCredential}
)

// find returns the entry of st that r's path names, or a 404.
func (k stateCollection[T]) find(st *configs.State, r *http.Request) (*T, error) {
	id := r.PathValue(k.param)
	if v := k.of(st)[id]; v != nil {
		return v, nil
	}
	return nil, errorf(http.StatusNotFound, "%s %q not found", k.what, id)
}

// remove is the DELETE handler: holding writeMu, it deletes the entry r's
// path names and answers with its id.
func (k stateCollection[T]) remove(ad *Admin, r *http.Request) (int, any, error) {
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	if _, err := k.find(ad.store.State(), r); err != nil {
		return 0, nil, err
	}
	id := r.PathValue(k.param) // the entry's id: the state keys them by it
	if err := k.del(ad.store, r.Context(), id); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"deleted": id}, nil
}
