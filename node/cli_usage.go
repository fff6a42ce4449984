package node

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/portico-gw/portico/configs"
)

// `portico usage` and `portico stages limits`: the command line of admin_usage.go.

// --- usage ---

func (c *cli) usageCmd() *cobra.Command {
	var plan, key, from, to string
	cmd := &cobra.Command{
		Use:   "usage --plan P [--key K] [--from YYYY-MM-DD] [--to YYYY-MM-DD]",
		Short: "Daily requests of a usage plan's API keys (default: the last 7 days)",
		Long: `Print the requests each API key of a usage plan made per UTC day, from --from
to --to inclusive (default: the last 7 days, today included; at most 90 days).
Days without requests are left out. The counts are read from the Raft leader.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			id, err := usagePlans.resolve(cmd.Context(), cl, plan)
			if err != nil {
				return err
			}
			q := url.Values{"consistent": {"1"}, "plan": {id}}
			if key != "" {
				// A key's id, or the name of a key that still exists; a
				// ref that names no key is taken as a deleted key's id.
				kid, err := apiKeys.resolve(cmd.Context(), cl, key)
				switch {
				case errors.Is(err, errNoSuch):
					kid = key
				case err != nil:
					return err
				}
				q.Set("key", kid)
			}
			if from != "" {
				q.Set("from", from)
			}
			if to != "" {
				q.Set("to", to)
			}
			var rep usageReport
			if err := cl.Do(cmd.Context(), "GET", "/v1/usage?"+q.Encode(), nil, &rep); err != nil {
				return err
			}
			return c.print(rep, func(w io.Writer) {
				var rows [][]string
				for _, r := range rep.Items {
					rows = append(rows, []string{r.Key, r.Day, fmt.Sprint(r.Count)})
				}
				table(w, "KEY\tDAY\tCOUNT", rows)
				fmt.Fprintf(w, "total: %d request(s) from %s to %s\n", rep.Total, rep.From, rep.To)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&plan, "plan", "", "usage plan id or name")
	f.StringVar(&key, "key", "", "only this API key (id or name)")
	f.StringVar(&from, "from", "", "first day, YYYY-MM-DD (UTC)")
	f.StringVar(&to, "to", "", "last day, YYYY-MM-DD (UTC; default today)")
	return cmd
}

// --- stage throttle and WAF ---

// withStageLimits adds `limits` to the stages command.
func (c *cli) withStageLimits(stages *cobra.Command) *cobra.Command {
	stages.AddCommand(c.stagesLimitsCmd())
	return stages
}

func (c *cli) stagesLimitsCmd() *cobra.Command {
	var api, stage, wafFile string
	var rate float64
	var burst int
	var routeThrottles, clearRoutes []string
	var clearThrottle, clearWAF bool
	cmd := &cobra.Command{
		Use:   "limits --api ID --stage S [--rate R --burst B] [--route-throttle \"GET /x=100:50\"...] [--waf-file F] [--clear-throttle] [--clear-waf]",
		Short: "Change a stage's throttle, route throttles and WAF",
		Long: `Change the throttle of a whole stage (--rate requests per second, --burst at
once, across the cluster), of single routes (--route-throttle "ROUTE=RATE:BURST",
repeatable; --clear-route-throttle ROUTE removes one) and its web application
firewall (--waf-file: a YAML or JSON file holding the waf block, which replaces
the current one). Only what is given changes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			if stage == "" {
				return errors.New("--stage is required")
			}
			patch := map[string]any{}
			switch {
			case clearThrottle && (f.Changed("rate") || f.Changed("burst")):
				return errors.New("--clear-throttle cannot be combined with --rate or --burst")
			case clearThrottle:
				patch["throttle"] = nil
			case f.Changed("rate") || f.Changed("burst"):
				t := map[string]any{}
				if f.Changed("rate") {
					t["rate_limit"] = rate
				}
				if f.Changed("burst") {
					t["burst_limit"] = burst
				}
				patch["throttle"] = t
			}
			if len(routeThrottles) > 0 || len(clearRoutes) > 0 {
				routes := map[string]any{}
				for _, r := range clearRoutes {
					routes[r] = nil
				}
				for _, s := range routeThrottles {
					route, t, err := parseRouteThrottle(s)
					if err != nil {
						return err
					}
					routes[route] = t
				}
				patch["route_throttles"] = routes
			}
			if clearWAF && wafFile != "" {
				return errors.New("--clear-waf cannot be combined with --waf-file")
			}
			if clearWAF {
				patch["waf"] = nil
			}
			if len(patch) == 0 && wafFile == "" {
				return errors.New("nothing to change: pass --rate/--burst, --route-throttle, --waf-file or a --clear-* flag")
			}
			cl, id, err := c.apiClient(cmd.Context(), api)
			if err != nil {
				return err
			}
			path := "/v1/apis/" + id + "/stages/" + url.PathEscape(stage)
			var s stageView
			if wafFile == "" {
				err = cl.Do(cmd.Context(), "PATCH", path+"/settings", patch, &s)
			} else {
				var want any
				if want, err = readWAFFile(wafFile); err != nil {
					return err
				}
				s, err = replaceWAF(cmd.Context(), cl, path, patch, want)
			}
			if err != nil {
				return err
			}
			return c.print(s, func(w io.Writer) { printStageLimits(w, s) })
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&api, "api", "", "API id or name")
	fl.StringVar(&stage, "stage", "", "stage name")
	fl.Float64Var(&rate, "rate", 0, "stage throttle: requests per second on average")
	fl.IntVar(&burst, "burst", 0, "stage throttle: requests at once")
	fl.StringArrayVar(&routeThrottles, "route-throttle", nil, `a route's throttle, "ROUTE=RATE:BURST" such as "GET /items/{id}=100:50" (repeatable)`)
	fl.StringArrayVar(&clearRoutes, "clear-route-throttle", nil, "remove a route's throttle, such as \"GET /items/{id}\" (repeatable)")
	fl.StringVar(&wafFile, "waf-file", "", "YAML or JSON file with the stage's waf block (replaces the current one; - for stdin)")
	fl.BoolVar(&clearThrottle, "clear-throttle", false, "remove the stage throttle")
	fl.BoolVar(&clearWAF, "clear-waf", false, "turn the WAF off and remove its settings")
	return cmd
}

// parseRouteThrottle reads "GET /x=100:50".
func parseRouteThrottle(s string) (string, map[string]any, error) {
	i := strings.LastIndex(s, "=")
	if i <= 0 {
		return "", nil, fmt.Errorf("--route-throttle %q: want \"ROUTE=RATE:BURST\", such as \"GET /items=100:50\"", s)
	}
	route, limits := strings.TrimSpace(s[:i]), s[i+1:]
	r, b, ok := strings.Cut(limits, ":")
	rate, err1 := strconv.ParseFloat(r, 64)
	burst, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		return "", nil, fmt.Errorf("--route-throttle %q: %q is not RATE:BURST, such as 100:50", s, limits)
	}
	return route, map[string]any{"rate_limit": rate, "burst_limit": burst}, nil
}

// readWAFFile reads a waf block, YAML or JSON, as a JSON value.
func readWAFFile(file string) (any, error) {
	b, err := readDefinition(file)
	if err != nil {
		return nil, err
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%s: neither JSON nor YAML: %w", file, err)
	}
	var v any
	if err := json.Unmarshal(j, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("%s: want the waf block, an object such as {ip_deny: [10.0.0.0/8]}", file)
	}
	return v, nil
}

// wafAttempts bounds how often replaceWAF reads the stage and sends its
// patch while other writes keep changing the stage in between.
const wafAttempts = 3

// replaceWAF sends patch to the stage at path with a waf member that
// turns the stage's WAF into want. The admin API only merges, so that
// member is computed from the stage as read; the write carries the
// version read (If-Match) and is refused (412) if another write changed
// the stage since, which would otherwise leave a mix of both blocks. It
// then reads the stage again and retries.
func replaceWAF(ctx context.Context, cl *Client, path string, patch map[string]any, want any) (stageView, error) {
	for range wafAttempts {
		var cur stageView
		if err := cl.Do(ctx, "GET", path+"?consistent", nil, &cur); err != nil {
			return stageView{}, err
		}
		var old any
		if cur.WAF != nil {
			b, _ := json.Marshal(cur.WAF)
			json.Unmarshal(b, &old)
		}
		patch["waf"] = replacingPatch(old, want)
		var s stageView
		err := cl.DoWith(ctx, "PATCH", path+"/settings", http.Header{"If-Match": {stageTag(cur.Stage)}}, patch, &s)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusPreconditionFailed {
			return s, err
		}
	}
	return stageView{}, fmt.Errorf("the stage kept changing: %d times another write changed it between reading it and replacing its WAF; nothing was changed, run the command again", wafAttempts)
}

// replacingPatch is a JSON merge patch (RFC 7396) that turns cur into
// want: members of cur that want lacks become null.
func replacingPatch(cur, want any) any {
	wm, ok1 := want.(map[string]any)
	cm, ok2 := cur.(map[string]any)
	if !ok1 || !ok2 {
		return want
	}
	out := make(map[string]any, len(wm))
	for k := range cm {
		if _, ok := wm[k]; !ok {
			out[k] = nil
		}
	}
	for k, v := range wm {
		out[k] = replacingPatch(cm[k], v)
	}
	return out
}

func printStageLimits(w io.Writer, s stageView) {
	fmt.Fprintf(w, "stage:       %s\napi:         %s\nthrottle:    %s\n", s.Name, s.APIID, describeThrottle(s.Throttle))
	for _, k := range slices.Sorted(maps.Keys(s.RouteThrottles)) {
		t := s.RouteThrottles[k]
		fmt.Fprintf(w, "route:       %s  %s\n", k, describeThrottle(&t))
	}
	fmt.Fprintf(w, "waf:         %s\n", describeWAF(s.WAF))
}

func describeWAF(wf *configs.WAF) string {
	if wf == nil {
		return "off"
	}
	var parts []string
	if n := len(wf.IPAllow); n > 0 {
		parts = append(parts, fmt.Sprintf("%d allowed network(s)", n))
	}
	if n := len(wf.IPDeny); n > 0 {
		parts = append(parts, fmt.Sprintf("%d denied network(s)", n))
	}
	if n := len(wf.RateRules); n > 0 {
		parts = append(parts, fmt.Sprintf("%d rate rule(s)", n))
	}
	if crs := wf.CoreRuleSet; crs != nil {
		parts = append(parts, fmt.Sprintf("core rule set (paranoia %d, %s)", max(crs.ParanoiaLevel, 1), cmp.Or(crs.Mode, "BLOCK")))
	}
	if len(parts) == 0 {
		return "on, no rules"
	}
	return "on: " + strings.Join(parts, ", ")
}
