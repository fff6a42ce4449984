package configs

import (
	"errors"
	"strings"
	"testing"
)

func TestResourcePolicyValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy string
		fields []string // empty: valid
	}{
		{"valid", `
  statements:
    - {sid: NoLab, effect: Deny, endpoint_types: [PRIVATE], source_cidrs: [10.20.2.0/24]}
    - {effect: Allow, source_networks: [corp], private_endpoints: [pe-corp]}
    - {effect: Allow, endpoint_types: [REGIONAL], not_source_cidrs: ["2001:db8::/32"]}`, nil},
		{"no statements", `
  statements: []`, []string{"resource_policy.statements"}},
		{"every bad field at once", `
  statements:
    - {sid: "bad sid!", effect: allow, endpoint_types: [EDGE, VPC], source_cidrs: [10.0.0.0/33], source_networks: [Corp], private_endpoints: [PE_1]}
    - {effect: Deny, endpoint_types: [REGIONAL], source_networks: [corp]}`, []string{
			"resource_policy.statements[0].sid",
			"resource_policy.statements[0].effect",
			"resource_policy.statements[0].endpoint_types[0]", // not published as EDGE
			"resource_policy.statements[0].endpoint_types[1]",
			"resource_policy.statements[0].source_cidrs[0]",
			"resource_policy.statements[0].source_networks[0]",
			"resource_policy.statements[0].private_endpoints[0]",
			"resource_policy.statements[0]", // networks only match on PRIVATE
			"resource_policy.statements[1]",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, err := ParseAPI([]byte("name: p\nendpoint_types: [PRIVATE, REGIONAL]\nresources: [{path: /, methods: {GET: {integration: {type: MOCK}}}}]\nresource_policy:" + tc.policy + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			a.ApplyDefaults("us-east-1")
			err = a.Validate()
			if len(tc.fields) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a ValidationError", err)
			}
			got := map[string]bool{}
			for _, fe := range ve.Errors {
				got[fe.Field] = true
			}
			for _, f := range tc.fields {
				if !got[f] {
					t.Errorf("no problem reported for %s; got %v", f, err)
				}
			}
			if len(ve.Errors) != len(tc.fields) {
				t.Errorf("%d problems, want %d: %v", len(ve.Errors), len(tc.fields), err)
			}
		})
	}
}

func TestPrivateNodeConfig(t *testing.T) {
	t.Parallel()
	n := DefaultNode()
	n.InternalNetworks = []InternalNetwork{
		{Name: "corp", CIDRs: []string{"10.20.0.0/16"}, Address: "10.20.1.1"},
		{Name: "lab", CIDRs: []string{"10.30.0.0/16"}}, // no address: no listener
	}
	n.ApplyDefaults()
	if err := n.Validate(); err != nil {
		t.Fatal(err)
	}
	pls := n.PrivateListeners()
	if len(pls) != 1 || pls[0].Listen != "10.20.1.1:8445" || pls[0].EndpointID != "pe-corp" || pls[0].CIDRs[0].String() != "10.20.0.0/16" {
		t.Errorf("private listeners = %+v", pls)
	}
	n.Roles = []string{RoleEdge}
	if len(n.PrivateListeners()) != 0 {
		t.Error("an edge-only node runs private listeners")
	}

	bad := DefaultNode()
	port := 70000
	bad.Private.Port = &port
	bad.PublicAddresses = []string{"0.0.0.0", "example.com"}
	bad.InternalNetworks = []InternalNetwork{
		{Name: "corp", CIDRs: []string{"10.20.0.0/16"}, Address: "10.30.0.1", EndpointID: "pe-x"},
		{Name: "lab", CIDRs: []string{"10.40.0.0/16"}, Address: "::", EndpointID: "pe-x"},
	}
	err := bad.Validate()
	for _, f := range []string{"private.port", "public_addresses[0]", "public_addresses[1]", "internal_networks[0].address", "internal_networks[1].address", "internal_networks[1].endpoint_id"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("Validate does not name %s: %v", f, err)
		}
	}
}
