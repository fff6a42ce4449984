package node

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// StateFile is what `portico dev` writes so scripts, tests and the other
// commands can find everything it started.
type StateFile struct {
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
	Admin     string    `json:"admin"`
	DataDir   string    `json:"data_dir"`
	CAFile    string    `json:"ca_file"`
	Zone      string    `json:"zone"`
	Backend   string    `json:"backend"`
	// DNS is the address of a dns node of the cluster (UDP and TCP).
	DNS   string      `json:"dns,omitempty"`
	Nodes []NodeState `json:"nodes"`
	Demo  *DemoState  `json:"demo,omitempty"`
}

// NodeState is one node in the state file.
type NodeState struct {
	Name     string   `json:"name"`
	Region   string   `json:"region"`
	Roles    []string `json:"roles"`
	Admin    string   `json:"admin"`
	Regional string   `json:"regional,omitempty"`
	Edge     string   `json:"edge,omitempty"`
	DNS      string   `json:"dns,omitempty"`
	Raft     string   `json:"raft,omitempty"`
	Internal string   `json:"internal"`
	Gossip   string   `json:"gossip"`
}

// DemoState names the demo API and how to call it.
type DemoState struct {
	APIID  string `json:"api_id"`
	Stage  string `json:"stage"`
	Region string `json:"region"`
	// Regional is the listener of a regional node of the API's region.
	Regional  string `json:"regional"`
	InvokeURL string `json:"invoke_url"`
	Curl      string `json:"curl"`
	// Edge is the listener of an edge node in the API's region, when the
	// cluster has edges; EdgeURL invokes the stage through edges.
	Edge     string `json:"edge,omitempty"`
	EdgeURL  string `json:"edge_url,omitempty"`
	EdgeCurl string `json:"edge_curl,omitempty"`
}

// DefaultStatePath is where `portico dev` writes its state file unless told
// otherwise: $XDG_STATE_HOME/portico/dev.json, else
// ~/.local/state/portico/dev.json.
func DefaultStatePath() string { return filepath.Join(stateHome(), "dev.json") }

// DefaultDevDataDir is the data directory of `portico dev`.
func DefaultDevDataDir() string { return filepath.Join(stateHome(), "dev") }

func stateHome() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "portico")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "portico")
	}
	return filepath.Join(os.TempDir(), "portico")
}

// WriteStateFile writes the file atomically (temp file + rename).
func WriteStateFile(path string, s *StateFile) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create state file directory: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	return os.Rename(tmp, path)
}

// ReadStateFile reads a state file.
func ReadStateFile(path string) (*StateFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s StateFile
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	return &s, nil
}
