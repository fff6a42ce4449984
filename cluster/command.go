package cluster

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/portico-gw/portico/configs"
)

// entryType is the first byte of every Raft log entry. Values are part of
// the on-disk format: never reuse or renumber them.
type entryType byte

const (
	entryPutAPI           entryType = 1
	entryDeleteAPI        entryType = 2
	entryDeploy           entryType = 3
	entryPutStage         entryType = 4
	entryDeleteStage      entryType = 5
	entryDeleteDeployment entryType = 6
	entrySetClusterID     entryType = 7
	entryFlushCache       entryType = 8
	entryPutDomain        entryType = 9
	entryDeleteDomain     entryType = 10
	entryPutPlan          entryType = 11
	entryDeletePlan       entryType = 12
	entryPutKey           entryType = 13
	entryDeleteKey        entryType = 14
	entryPutCredential    entryType = 15
	entryDeleteCredential entryType = 16
	entryAddUsage         entryType = 17
)

func (t entryType) String() string {
	switch t {
	case entryPutAPI:
		return "put-api"
	case entryDeleteAPI:
		return "delete-api"
	case entryDeploy:
		return "deploy"
	case entryPutStage:
		return "put-stage"
	case entryDeleteStage:
		return "delete-stage"
	case entryDeleteDeployment:
		return "delete-deployment"
	case entrySetClusterID:
		return "set-cluster-id"
	case entryFlushCache:
		return "flush-cache"
	case entryPutDomain:
		return "put-domain"
	case entryDeleteDomain:
		return "delete-domain"
	case entryPutPlan:
		return "put-plan"
	case entryDeletePlan:
		return "delete-plan"
	case entryPutKey:
		return "put-key"
	case entryDeleteKey:
		return "delete-key"
	case entryPutCredential:
		return "put-credential"
	case entryDeleteCredential:
		return "delete-credential"
	case entryAddUsage:
		return "add-usage"
	}
	return fmt.Sprintf("entry(%d)", byte(t))
}

type putAPI struct {
	API *configs.API `json:"api"`
}

type deleteAPI struct {
	ID string `json:"id"`
}

type deploy struct {
	Deployment *configs.Deployment `json:"deployment"`
	Stage      *configs.Stage      `json:"stage,omitempty"`
}

type putStage struct {
	Stage *configs.Stage `json:"stage"`
}

type deleteStage struct {
	APIID string `json:"api_id"`
	Name  string `json:"name"`
}

// flushCache invalidates a stage's caches; the entry's index becomes the
// flush's Seq.
type flushCache struct {
	APIID  string    `json:"api_id"`
	Stage  string    `json:"stage"`
	Prefix string    `json:"prefix,omitempty"`
	At     time.Time `json:"at"`
}

// putDomain stores a custom domain with all its mappings (create, map,
// unmap and changes of regions are all one whole-domain write).
type putDomain struct {
	Domain *configs.Domain `json:"domain"`
}

type deleteDomain struct {
	Name string `json:"name"`
}

type putPlan struct {
	Plan *configs.UsagePlan `json:"plan"`
}

type putKey struct {
	Key *configs.APIKey `json:"key"`
}

type putCredential struct {
	Credential *configs.Credential `json:"credential"`
}

// deleteByID removes a plan, key or credential.
type deleteByID struct {
	ID string `json:"id"`
}

type setClusterID struct {
	ID string `json:"id"`
}

type deleteDeployment struct {
	APIID string `json:"api_id"`
	ID    string `json:"id"`
}

// encode renders an entry: type byte, then JSON.
func encode(t entryType, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", t, err)
	}
	return append([]byte{byte(t)}, b...), nil
}
