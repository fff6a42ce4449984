package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// ErrNotEncrypted is returned by the keyring operations of a Gossip that
// was started without keys: encryption cannot be switched on in a running
// cluster, only keys of an encrypted one rotated.
var ErrNotEncrypted = errors.New("gossip is not encrypted")

// GenerateKey returns a new random 32-byte gossip key (AES-256).
func GenerateKey() []byte {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		// crypto/rand.Read does not fail on supported platforms (Go 1.24+).
		panic(fmt.Sprintf("gossip key: %v", err))
	}
	return key
}

// KeyResult is the outcome of a cluster-wide keyring change.
type KeyResult struct {
	// Nodes is how many members were asked: those memberlist holds
	// alive or suspect. Failed and left members are not asked.
	Nodes int
	// Responses is how many of them answered before the query timed out.
	Responses int
	// Errors maps a node name to the problem it reported.
	Errors map[string]string
}

// KeyStatus is the cluster-wide keyring as the members report it. Keys
// are base64 (standard encoding), as the keyring file holds them.
type KeyStatus struct {
	KeyResult
	// Primary maps each key to the number of members encrypting with it.
	// After a completed rotation it holds exactly one key.
	Primary map[string]int
	// Keys maps each key to the number of members holding it.
	Keys map[string]int
}

// Keys lists the keyring of every member. It blocks for at most the serf
// query timeout or until ctx is done. The error is non-nil when a member
// failed to answer; the status still holds what was gathered.
func (g *Gossip) Keys(ctx context.Context) (KeyStatus, error) {
	if !g.serf.EncryptionEnabled() {
		return KeyStatus{}, ErrNotEncrypted
	}
	var (
		resp *serf.KeyResponse
		err  error
	)
	if werr := g.runOwned(ctx, func() {
		resp, err = g.serf.KeyManager().ListKeysWithOptions(g.keyOptions())
	}); werr != nil {
		return KeyStatus{}, fmt.Errorf("list gossip keys: %w", werr)
	}
	st := KeyStatus{KeyResult: keyResult(resp)}
	if resp != nil {
		st.Primary, st.Keys = resp.PrimaryKeys, resp.Keys
	}
	if err != nil {
		return st, fmt.Errorf("list gossip keys: %w", err)
	}
	return st, nil
}

// InstallKey adds key to the keyring of every member (and to their keyring
// files) without making it the primary. Members then decrypt with it but
// keep encrypting with the old primary. It blocks like Keys; the error is
// non-nil unless every member installed the key.
func (g *Gossip) InstallKey(ctx context.Context, key []byte) (KeyResult, error) {
	return g.keyOp(ctx, "install", key, (*serf.KeyManager).InstallKeyWithOptions)
}

// UseKey makes key, installed everywhere before, the primary key of every
// member. It blocks like Keys; the error is non-nil unless every member
// switched.
func (g *Gossip) UseKey(ctx context.Context, key []byte) (KeyResult, error) {
	return g.keyOp(ctx, "use", key, (*serf.KeyManager).UseKeyWithOptions)
}

// RemoveKey removes key from every member's keyring. The primary key
// cannot be removed. It blocks like Keys; the error is non-nil unless
// every member removed it. A member that was down during the rotation
// still holds only the old keys and cannot rejoin until given the new one.
func (g *Gossip) RemoveKey(ctx context.Context, key []byte) (KeyResult, error) {
	return g.keyOp(ctx, "remove", key, (*serf.KeyManager).RemoveKeyWithOptions)
}

type keyManagerOp func(*serf.KeyManager, string, *serf.KeyRequestOptions) (*serf.KeyResponse, error)

func (g *Gossip) keyOp(ctx context.Context, name string, key []byte, op keyManagerOp) (KeyResult, error) {
	if !g.serf.EncryptionEnabled() {
		return KeyResult{}, ErrNotEncrypted
	}
	if err := memberlist.ValidateKey(key); err != nil {
		return KeyResult{}, fmt.Errorf("%s gossip key: %w", name, err)
	}
	b64 := base64.StdEncoding.EncodeToString(key)
	var (
		resp *serf.KeyResponse
		err  error
	)
	if werr := g.runOwned(ctx, func() {
		resp, err = op(g.serf.KeyManager(), b64, g.keyOptions())
	}); werr != nil {
		return KeyResult{}, fmt.Errorf("%s gossip key: %w", name, werr)
	}
	res := keyResult(resp)
	if err != nil {
		return res, fmt.Errorf("%s gossip key: %w", name, err)
	}
	g.log.Info("gossip keyring changed cluster-wide", "op", name, "nodes", res.Nodes)
	return res, nil
}

// keyOptions asks two other members to relay every answer as well, so one
// lost UDP response does not fail a rotation step.
func (g *Gossip) keyOptions() *serf.KeyRequestOptions {
	return &serf.KeyRequestOptions{RelayFactor: 2}
}

func keyResult(resp *serf.KeyResponse) KeyResult {
	if resp == nil {
		return KeyResult{}
	}
	return KeyResult{Nodes: resp.NumNodes, Responses: resp.NumResp, Errors: resp.Messages}
}

// openKeyring returns the keyring gossip starts with, or nil for no
// encryption. An existing keyring file wins over keys; a missing one is
// created from keys so that rotations have a file to persist to.
func openKeyring(path string, keys [][]byte) (*memberlist.Keyring, error) {
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			if keys, err = decodeKeyringFile(data); err != nil {
				return nil, fmt.Errorf("keyring file %s: %w", path, err)
			}
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("read keyring file: %w", err)
		case len(keys) > 0:
			if err := writeKeyringFile(path, keys); err != nil {
				return nil, err
			}
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	for i, k := range keys {
		if err := memberlist.ValidateKey(k); err != nil {
			return nil, fmt.Errorf("gossip key %d: %w", i, err)
		}
	}
	ring, err := memberlist.NewKeyring(keys[1:], keys[0])
	if err != nil {
		return nil, fmt.Errorf("gossip keyring: %w", err)
	}
	return ring, nil
}

// decodeKeyringFile reads serf's keyring file format: a JSON list of
// base64 keys, the primary first.
func decodeKeyringFile(data []byte) ([][]byte, error) {
	var encoded []string
	if err := json.Unmarshal(data, &encoded); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if len(encoded) == 0 {
		return nil, errors.New("holds no keys")
	}
	keys := make([][]byte, 0, len(encoded))
	for i, s := range encoded {
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// writeKeyringFile creates the keyring file in serf's format, through a
// temporary file so a crash never leaves half a keyring.
func writeKeyringFile(path string, keys [][]byte) error {
	encoded := make([]string, len(keys))
	for i, k := range keys {
		encoded[i] = base64.StdEncoding.EncodeToString(k)
	}
	data, err := json.MarshalIndent(encoded, "", "  ")
	if err != nil {
		return fmt.Errorf("encode keyring file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create keyring directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("create keyring file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write keyring file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync keyring file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close keyring file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("install keyring file: %w", err)
	}
	return nil
}
