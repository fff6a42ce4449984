package waf_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/portico-gw/portico/endpoints/waf"
)

// A stage's firewall: one denied network, a login rate rule and the Core
// Rule Set, in front of the stage's handler. The gateway renders its own
// 403 through Block.
func Example() {
	fw, err := waf.New(waf.Config{
		IPDeny:      []string{"198.51.100.0/24"},
		RateRules:   []waf.RateRule{{Limit: 100, Window: waf.Duration(time.Minute), PathPrefix: "/login"}},
		CoreRuleSet: &waf.CRS{},
	}, waf.Options{
		Logger: slog.New(slog.DiscardHandler),
		Block: func(w http.ResponseWriter, r *http.Request, why waf.Reason) {
			fmt.Printf("blocked %s: %s rule %d\n", r.URL.RequestURI(), why.Kind, why.RuleID)
			w.WriteHeader(http.StatusForbidden)
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	stage := fw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("served", r.URL.RequestURI())
	}))
	for _, target := range []string{"/items?id=42", "/items?id=1%27%20OR%20%271%27=%271"} {
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set("User-Agent", "example/1.0")
		r.Header.Set("Accept", "application/json")
		stage.ServeHTTP(httptest.NewRecorder(), r)
	}
	// Output:
	// served /items?id=42
	// blocked /items?id=1%27%20OR%20%271%27=%271: crs rule 949110
}

// Validate names every problem with its field path.
func ExampleConfig_Validate() {
	cfg := waf.Config{
		IPDeny:    []string{"10.0.0.0/8", "10.0.0.0/33"},
		RateRules: []waf.RateRule{{Limit: 0, Action: "DROP"}},
	}
	fmt.Println(cfg.Validate("stages[0].waf"))
	// Output:
	// stages[0].waf.ip_deny[1]: invalid CIDR "10.0.0.0/33"; stages[0].waf.rate_rules[0].limit: must be at least 1; stages[0].waf.rate_rules[0].action: must be "BLOCK" or "COUNT", not "DROP"
}
