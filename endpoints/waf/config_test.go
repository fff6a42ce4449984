package waf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	many := make([]string, MaxIPEntries+1)
	for i := range many {
		many[i] = fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)
	}
	tests := []struct {
		name string
		cfg  Config
		want []string // field errors, in order; nil means valid
	}{
		{name: "zero", cfg: Config{}},
		{name: "full", cfg: Config{
			IPAllow:     []string{"203.0.113.0/24", "2001:db8::/32", "198.51.100.7", "::ffff:192.0.2.0/120"},
			IPDeny:      []string{"203.0.113.9/32", "2001:db8::1"},
			RateRules:   []RateRule{{Limit: 100}, {Limit: 10, Window: Duration(time.Minute), Action: ActionCount, PathPrefix: "/login"}},
			CoreRuleSet: &CRS{ParanoiaLevel: 2, AnomalyThreshold: 10, Mode: ModeDetect, ExcludeRules: []int{920420}},
		}},
		{name: "crs zero values are defaults", cfg: Config{CoreRuleSet: &CRS{}}},
		{name: "bad cidrs", cfg: Config{
			IPAllow: []string{"10.0.0.0/8", "10.0.0.0/33"},
			IPDeny:  []string{"1.2.3.4", "", "x", "fe80::1%eth0", "::ffff:0:0/90", "10.0.0.0/-1", "1.2.3.4/8/8"},
		}, want: []string{
			`waf.ip_allow[1]: invalid CIDR "10.0.0.0/33"`,
			`waf.ip_deny[1]: invalid CIDR ""`,
			`waf.ip_deny[2]: invalid CIDR "x"`,
			`waf.ip_deny[5]: invalid CIDR "10.0.0.0/-1"`,
			`waf.ip_deny[6]: invalid CIDR "1.2.3.4/8/8"`,
		}},
		{name: "too many ip entries", cfg: Config{IPDeny: many}, want: []string{
			"waf.ip_deny: must have at most 10000 entries",
		}},
		{name: "bad rate rules", cfg: Config{RateRules: []RateRule{
			{Limit: 0, Window: Duration(time.Second), Action: "block", PathPrefix: "api"},
			{Limit: -1, Window: Duration(2 * time.Hour)},
			{Limit: 1, Window: Duration(MinRateWindow)},
			{Limit: 3_000_000_000, Window: Duration(MaxRateWindow)},
		}}, want: []string{
			"waf.rate_rules[0].limit: must be at least 1",
			"waf.rate_rules[0].window: must be between 10s and 1h0m0s",
			`waf.rate_rules[0].action: must be "BLOCK" or "COUNT", not "block"`,
			`waf.rate_rules[0].path_prefix: must start with "/"`,
			"waf.rate_rules[1].limit: must be at least 1",
			"waf.rate_rules[1].window: must be between 10s and 1h0m0s",
		}},
		{name: "bad crs", cfg: Config{CoreRuleSet: &CRS{ParanoiaLevel: 5, AnomalyThreshold: -1, Mode: "LOG", ExcludeRules: []int{942100, 0, -5}}}, want: []string{
			"waf.core_rule_set.paranoia_level: must be between 1 and 4",
			"waf.core_rule_set.anomaly_threshold: must be between 1 and 10000",
			`waf.core_rule_set.mode: must be "BLOCK" or "DETECT", not "LOG"`,
			"waf.core_rule_set.exclude_rules[1]: must be a positive rule id",
			"waf.core_rule_set.exclude_rules[2]: must be a positive rule id",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate("waf")
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a *ValidationError", err)
			}
			var got []string
			for _, fe := range ve.Errors {
				got = append(got, fe.Error())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate:\n got %q\nwant %q", got, tt.want)
			}
			if _, err := New(tt.cfg, Options{}); !errors.As(err, &ve) {
				t.Errorf("New = %v, want the validation error", err)
			}
		})
	}
}

func TestValidatePrefix(t *testing.T) {
	t.Parallel()
	cfg := Config{IPDeny: []string{"x"}}
	for _, tt := range []struct{ prefix, want string }{
		{"", `ip_deny[0]: invalid CIDR "x"`},
		{"stages[2].waf", `stages[2].waf.ip_deny[0]: invalid CIDR "x"`},
	} {
		if err := cfg.Validate(tt.prefix); err == nil || err.Error() != tt.want {
			t.Errorf("Validate(%q) = %v, want %s", tt.prefix, err, tt.want)
		}
	}
}

func TestApplyDefaults(t *testing.T) {
	t.Parallel()
	cfg := Config{
		RateRules:   []RateRule{{Limit: 5}, {Limit: 5, Window: Duration(time.Minute), Action: ActionCount}},
		CoreRuleSet: &CRS{},
	}
	cfg.ApplyDefaults()
	want := Config{
		RateRules: []RateRule{
			{Limit: 5, Window: Duration(DefaultRateWindow), Action: ActionBlock},
			{Limit: 5, Window: Duration(time.Minute), Action: ActionCount},
		},
		CoreRuleSet: &CRS{ParanoiaLevel: 1, AnomalyThreshold: 5, Mode: ModeBlock},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("ApplyDefaults:\n got %+v %+v\nwant %+v %+v", cfg, cfg.CoreRuleSet, want, want.CoreRuleSet)
	}
	if err := cfg.Validate("waf"); err != nil {
		t.Errorf("Validate after ApplyDefaults: %v", err)
	}
}

// TestConfigJSON checks the snake_case wire shape the configuration layer
// embeds, durations as strings, and that strict decoding names unknown
// fields.
func TestConfigJSON(t *testing.T) {
	t.Parallel()
	const doc = `{
		"ip_allow": ["203.0.113.0/24"],
		"ip_deny": ["2001:db8::/32"],
		"rate_rules": [{"limit": 100, "window": "1m", "action": "COUNT", "path_prefix": "/login"}],
		"core_rule_set": {"paranoia_level": 2, "anomaly_threshold": 7, "mode": "DETECT", "exclude_rules": [920420]}
	}`
	var cfg Config
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := Config{
		IPAllow:     []string{"203.0.113.0/24"},
		IPDeny:      []string{"2001:db8::/32"},
		RateRules:   []RateRule{{Limit: 100, Window: Duration(time.Minute), Action: ActionCount, PathPrefix: "/login"}},
		CoreRuleSet: &CRS{ParanoiaLevel: 2, AnomalyThreshold: 7, Mode: ModeDetect, ExcludeRules: []int{920420}},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("decoded %+v, want %+v", cfg, want)
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`"window":"1m0s"`)) {
		t.Errorf("marshal = %s, want the window as a string", out)
	}
	var back Config
	if err := json.Unmarshal(out, &back); err != nil || !reflect.DeepEqual(back, want) {
		t.Errorf("round trip = %+v, %v", back, err)
	}

	for _, tt := range []struct{ doc, want string }{
		{`{"ip_denny": []}`, `unknown field "ip_denny"`},
		{`{"rate_rules": [{"limit": 1, "window": 60}]}`, `duration must be a string`},
		{`{"rate_rules": [{"limit": 1, "window": "5 minutes"}]}`, `invalid duration "5 minutes"`},
	} {
		dec := json.NewDecoder(strings.NewReader(tt.doc))
		dec.DisallowUnknownFields()
		if err := dec.Decode(new(Config)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("decode %s = %v, want %q", tt.doc, err, tt.want)
		}
	}
}
