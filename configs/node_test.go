package configs

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadNodeFillsDefaults(t *testing.T) {
	t.Parallel()
	n, err := LoadNode([]byte("region: eu-west-1\n"))
	if err != nil {
		t.Fatalf("LoadNode: %v", err)
	}
	want := DefaultNode()
	want.Region = "eu-west-1"
	if !reflect.DeepEqual(*n, want) {
		t.Fatalf("LoadNode = %+v\nwant %+v", *n, want)
	}
	if n.Name != "node-1" || n.Admin.Listen != "127.0.0.1:9180" || n.Regional.Listen != "127.0.0.1:8443" ||
		n.Raft.Listen != "127.0.0.1:9181" || n.ShutdownGrace.D() != 10*time.Second || len(n.Roles) != 4 {
		t.Errorf("defaults: %+v", *n)
	}
	for _, r := range []string{RoleControl, RoleRegional, RoleEdge, RoleDNS} {
		if !n.HasRole(r) {
			t.Errorf("default roles lack %s", r)
		}
	}
	d := DefaultNode()
	if err := d.Validate(); err != nil {
		t.Errorf("DefaultNode does not validate: %v", err)
	}
}

func TestLoadNodeKeepsSetFields(t *testing.T) {
	t.Parallel()
	n, err := LoadNode([]byte(`{
  "name": "edge-fra-1",
  "region": "eu-central-1",
  "roles": ["edge"],
  "data_dir": "/var/lib/portico",
  "zone": "gw.example.com",
  "admin": {"listen": "[::1]:9180"},
  "regional": {"listen": "0.0.0.0:443", "advertise": "203.0.113.7:443", "cert_file": "c.pem", "key_file": "k.pem"},
  "raft": {"listen": ":9181", "advertise": "10.0.0.7:9181"},
  "access_log": "off",
  "shutdown_grace": "30s"
}`))
	if err != nil {
		t.Fatalf("LoadNode: %v", err)
	}
	if n.Name != "edge-fra-1" || n.HasRole(RoleControl) || n.Raft.Advertise != "10.0.0.7:9181" || n.ShutdownGrace.D() != 30*time.Second || n.AccessLog != "off" {
		t.Errorf("fields not kept: %+v", *n)
	}
}

func TestLoadNodeReportsField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		doc      string
		field    string
		fragment string
	}{
		{"unknown field", "name: n1\nlisten: 127.0.0.1:80\n", "listen", "unknown field"},
		{"unknown nested field", "regional: {listen: '127.0.0.1:8443', tls: auto}\n", "regional.tls", "unknown field"},
		{"wrong type", "roles: edge\n", "roles", "must be a list"},
		{"grace as a number", "shutdown_grace: 10\n", "shutdown_grace", "duration must be a string"},
		{"no port", "admin: {listen: 127.0.0.1}\n", "admin.listen", "must be host:port"},
		{"host name", "regional: {listen: 'example.com:443'}\n", "regional.listen", "host must be an IP address"},
		{"port out of range", "raft: {listen: '127.0.0.1:99999'}\n", "raft.listen", "port must be a number from 0 to 65535"},
		{"service name port", "raft: {advertise: '10.0.0.1:http'}\n", "raft.advertise", "port must be a number"},
		{"bad advertise", "regional: {advertise: 'nope'}\n", "regional.advertise", "must be host:port"},
		{"bad role", "roles: [edge, gateway]\n", "roles[1]", `must be control, regional, edge or dns, not "gateway"`},
		{"bad name", "name: Node_1\n", "name", "lowercase letters"},
		{"bad region", "region: EU\n", "region", "lowercase letters"},
		{"cert without key", "regional: {cert_file: c.pem}\n", "regional.cert_file", "set together"},
		{"negative grace", "shutdown_grace: -1s\n", "shutdown_grace", "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadNode([]byte(tt.doc))
			wantFieldError(t, err, tt.field, tt.fragment)
		})
	}
}

func TestLoadNodeReportsEveryAddress(t *testing.T) {
	t.Parallel()
	_, err := LoadNode([]byte("admin: {listen: one}\nregional: {listen: two}\nraft: {listen: three}\n"))
	for _, f := range []string{"admin.listen", "regional.listen", "raft.listen"} {
		wantFieldError(t, err, f, "must be host:port")
	}
}

func TestLoadNodeRejectsEmpty(t *testing.T) {
	t.Parallel()
	if _, err := LoadNode(nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("LoadNode(nil) = %v, want an empty-document error", err)
	}
}

func TestServesRequests(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		roles []string
		want  bool
	}{
		{nil, false},
		{[]string{}, false},
		{[]string{RoleControl}, false},
		{[]string{RoleDNS}, false},
		{[]string{RoleControl, RoleDNS}, false},
		{[]string{RoleRegional}, true},
		{[]string{RoleEdge}, true},
		{[]string{RoleControl, RoleRegional}, true},
		{[]string{RoleDNS, RoleEdge}, true},
		{[]string{RoleControl, RoleRegional, RoleEdge, RoleDNS}, true},
		{[]string{"Regional", "EDGE"}, false}, // roles are matched exactly
	} {
		if got := ServesRequests(c.roles); got != c.want {
			t.Errorf("ServesRequests(%q) = %v, want %v", c.roles, got, c.want)
		}
	}
}
