package node

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/portico-gw/portico/configs"
)

// `portico plans`, `portico keys`, `portico credentials`, `portico usage`
// and `portico stages limits`: the command line of admin_access.go.

// resolveRef finds the one id that ref names among ids (by id first, then
// by a unique name).
func resolveRef(kind, ref string, ids, names []string) (string, error) {
	var byName []string
	for i, id := range ids {
		if id == ref {
			return id, nil
		}
		if names[i] == ref {
			byName = append(byName, id)
		}
	}
	switch len(byName) {
	case 1:
		return byName[0], nil
	case 0:
		return "", fmt.Errorf("no %s has the id or name %q", kind, ref)
	}
	return "", fmt.Errorf("several %ss are named %q (%s); pass an id", kind, ref, strings.Join(byName, ", "))
}

// resolvePlan accepts a usage plan id or a unique plan name.
func (c *cli) resolvePlan(ctx context.Context, cl *Client, ref string) (string, error) {
	if ref == "" {
		return "", errors.New("--plan is required (a usage plan id or name)")
	}
	var list struct {
		Plans []planView `json:"plans"`
	}
	if err := cl.Do(ctx, "GET", "/v1/plans?consistent", nil, &list); err != nil {
		return "", err
	}
	var ids, names []string
	for _, p := range list.Plans {
		ids, names = append(ids, p.ID), append(names, p.Name)
	}
	return resolveRef("usage plan", ref, ids, names)
}

// resolveKey accepts an API key id or a unique key name.
func (c *cli) resolveKey(ctx context.Context, cl *Client, ref string) (string, error) {
	var list struct {
		Keys []keyView `json:"keys"`
	}
	if err := cl.Do(ctx, "GET", "/v1/keys?consistent", nil, &list); err != nil {
		return "", err
	}
	var ids, names []string
	for _, k := range list.Keys {
		ids, names = append(ids, k.ID), append(names, k.Name)
	}
	return resolveRef("API key", ref, ids, names)
}

// resolveCredential accepts an access key id or a unique credential name.
func (c *cli) resolveCredential(ctx context.Context, cl *Client, ref string) (string, error) {
	var list struct {
		Credentials []configs.Credential `json:"credentials"`
	}
	if err := cl.Do(ctx, "GET", "/v1/credentials?consistent", nil, &list); err != nil {
		return "", err
	}
	var ids, names []string
	for _, k := range list.Credentials {
		ids, names = append(ids, k.ID), append(names, k.Name)
	}
	return resolveRef("credential", ref, ids, names)
}

// --- plans ---

func (c *cli) plansCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "plans", Short: "Usage plans: throttles and quotas for API keys on chosen stages"}
	cmd.AddCommand(c.plansCreateCmd(), c.plansStageCmd(true), c.plansStageCmd(false))
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List usage plans", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			var res struct {
				Plans []planView `json:"plans"`
			}
			if err := cl.Do(cmd.Context(), "GET", "/v1/plans", nil, &res); err != nil {
				return err
			}
			return c.print(res.Plans, func(w io.Writer) {
				var rows [][]string
				for _, p := range res.Plans {
					rows = append(rows, []string{p.ID, p.Name, describeThrottle(p.Throttle), describeQuota(p.Quota), describePlanStages(p.Stages), fmt.Sprint(p.KeyCount)})
				}
				table(w, "ID\tNAME\tTHROTTLE\tQUOTA\tSTAGES\tKEYS", rows)
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "get PLAN", Short: "Show a usage plan (by id or name)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			id, err := c.resolvePlan(cmd.Context(), cl, args[0])
			if err != nil {
				return err
			}
			var p planView
			if err := cl.Do(cmd.Context(), "GET", "/v1/plans/"+id, nil, &p); err != nil {
				return err
			}
			return c.printPlan(p)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "delete PLAN", Short: "Delete a usage plan; its keys stay, without a plan", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			id, err := c.resolvePlan(cmd.Context(), cl, args[0])
			if err != nil {
				return err
			}
			var res map[string]string
			if err := cl.Do(cmd.Context(), "DELETE", "/v1/plans/"+id, nil, &res); err != nil {
				return err
			}
			return c.print(res, func(w io.Writer) { fmt.Fprintf(w, "usage plan %s deleted\n", id) })
		},
	})
	return cmd
}

func (c *cli) plansCreateCmd() *cobra.Command {
	var name, description, period string
	var rate float64
	var burst, offset int
	var quota int64
	cmd := &cobra.Command{
		Use:   "create --name N [--rate R --burst B] [--quota N --period DAY|WEEK|MONTH [--offset O]] [--description D]",
		Short: "Create a usage plan",
		Long: `Create a usage plan: how fast (--rate requests per second on average, --burst at
once, across the cluster) and how much (--quota requests per --period, counted
per API key in UTC) the keys of the plan may call the stages it covers. Attach
stages with ` + "`portico plans attach`" + ` and create keys with ` + "`portico keys create --plan`" + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			req := planRequest{Name: name, Description: description}
			if f.Changed("rate") || f.Changed("burst") {
				req.Throttle = &configs.Throttle{RateLimit: rate, BurstLimit: burst}
			}
			if f.Changed("quota") || f.Changed("period") || f.Changed("offset") {
				req.Quota = &configs.Quota{Limit: quota, Period: configs.QuotaPeriod(strings.ToUpper(period)), Offset: offset}
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			var p planView
			if err := cl.Do(cmd.Context(), "POST", "/v1/plans", req, &p); err != nil {
				return err
			}
			return c.print(p, func(w io.Writer) {
				fmt.Fprintf(w, "usage plan %s created with id %s (throttle %s, quota %s)\n", p.Name, p.ID, describeThrottle(p.Throttle), describeQuota(p.Quota))
				fmt.Fprintf(w, "next: portico plans attach --plan %s --api API --stage STAGE; portico keys create --plan %s --name NAME\n", p.ID, p.ID)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "the plan's name")
	f.StringVar(&description, "description", "", "the plan's description")
	f.Float64Var(&rate, "rate", 0, "requests per second on average, per key")
	f.IntVar(&burst, "burst", 0, "requests at once, per key")
	f.Int64Var(&quota, "quota", 0, "requests per period, per key")
	f.StringVar(&period, "period", "", "quota period: DAY, WEEK or MONTH")
	f.IntVar(&offset, "offset", 0, "quota period start: WEEK 0-6 (0 = Sunday), MONTH 0-27 days after the 1st")
	return cmd
}

// plansStageCmd is `plans attach` (attach) or `plans detach`.
func (c *cli) plansStageCmd(attach bool) *cobra.Command {
	var plan, api, stage string
	use, short := "detach", "Stop a usage plan covering a stage"
	if attach {
		use, short = "attach", "Make a usage plan cover a stage: its keys may call it, within the plan's limits"
	}
	cmd := &cobra.Command{
		Use:   use + " --plan P --api ID --stage S",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if stage == "" {
				return errors.New("--stage is required")
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			apiID, err := c.resolveAPI(cmd.Context(), cl, api)
			if err != nil {
				if attach || api == "" {
					return err
				}
				apiID = api // the API may be gone: detach by id
			}
			id, err := c.resolvePlan(cmd.Context(), cl, plan)
			if err != nil {
				return err
			}
			var p planView
			if attach {
				err = cl.Do(cmd.Context(), "POST", "/v1/plans/"+id+"/stages", configs.PlanStage{APIID: apiID, Stage: stage}, &p)
			} else {
				err = cl.Do(cmd.Context(), "DELETE", "/v1/plans/"+id+"/stages/"+url.PathEscape(apiID)+"/"+url.PathEscape(stage), nil, &p)
			}
			if err != nil {
				return err
			}
			return c.print(p, func(w io.Writer) {
				fmt.Fprintf(w, "usage plan %s now covers: %s\n", p.ID, describePlanStages(p.Stages))
			})
		},
	}
	cmd.Flags().StringVar(&plan, "plan", "", "usage plan id or name")
	cmd.Flags().StringVar(&api, "api", "", "API id or name")
	cmd.Flags().StringVar(&stage, "stage", "", "stage name")
	return cmd
}

func (c *cli) printPlan(p planView) error {
	return c.print(p, func(w io.Writer) {
		fmt.Fprintf(w, "plan:        %s\nname:        %s\n", p.ID, p.Name)
		if p.Description != "" {
			fmt.Fprintf(w, "description: %s\n", p.Description)
		}
		fmt.Fprintf(w, "throttle:    %s\nquota:       %s\nkeys:        %d\ncreated:     %s\n\n",
			describeThrottle(p.Throttle), describeQuota(p.Quota), p.KeyCount, p.CreatedAt.Format("2006-01-02 15:04:05Z07:00"))
		var rows [][]string
		for _, s := range p.Stages {
			rows = append(rows, []string{s.APIID, s.Stage})
		}
		table(w, "API\tSTAGE", rows)
	})
}

func describeThrottle(t *configs.Throttle) string {
	if t == nil {
		return "-"
	}
	return fmt.Sprintf("%s/s burst %d", strconv.FormatFloat(t.RateLimit, 'f', -1, 64), t.BurstLimit)
}

func describeQuota(q *configs.Quota) string {
	if q == nil {
		return "-"
	}
	s := fmt.Sprintf("%d per %s", q.Limit, q.Period)
	if q.Offset != 0 {
		s += fmt.Sprintf(" (offset %d)", q.Offset)
	}
	return s
}

func describePlanStages(stages []configs.PlanStage) string {
	if len(stages) == 0 {
		return "-"
	}
	s := make([]string, len(stages))
	for i, ps := range stages {
		s[i] = ps.APIID + "/" + ps.Stage
	}
	return strings.Join(s, ",")
}

// --- API keys ---

// apiKeysCmd is `portico keys` (the gossip keys are `portico cluster keys`).
func (c *cli) apiKeysCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "API keys (sent in x-api-key) and the usage plans they belong to"}
	cmd.AddCommand(c.keysCreateCmd())
	var plan string
	list := &cobra.Command{
		Use: "list [--plan P]", Short: "List API keys (never their values)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			path := "/v1/keys"
			if plan != "" {
				id, err := c.resolvePlan(cmd.Context(), cl, plan)
				if err != nil {
					return err
				}
				path += "?plan=" + url.QueryEscape(id)
			}
			var res struct {
				Keys []keyView `json:"keys"`
			}
			if err := cl.Do(cmd.Context(), "GET", path, nil, &res); err != nil {
				return err
			}
			return c.print(res.Keys, func(w io.Writer) {
				var rows [][]string
				for _, k := range res.Keys {
					rows = append(rows, []string{k.ID, k.Name, k.Hint, cmpDash(k.PlanID), enabledWord(k.Enabled), k.CreatedAt.Format("2006-01-02 15:04:05")})
				}
				table(w, "ID\tNAME\tHINT\tPLAN\tSTATE\tCREATED", rows)
			})
		},
	}
	list.Flags().StringVar(&plan, "plan", "", "only the keys of this usage plan (id or name)")
	cmd.AddCommand(list)
	cmd.AddCommand(&cobra.Command{
		Use: "get KEY", Short: "Show an API key (by id or name; never its value)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			id, err := c.resolveKey(cmd.Context(), cl, args[0])
			if err != nil {
				return err
			}
			var k keyView
			if err := cl.Do(cmd.Context(), "GET", "/v1/keys/"+id, nil, &k); err != nil {
				return err
			}
			return c.print(k, func(w io.Writer) {
				fmt.Fprintf(w, "key:      %s\nname:     %s\nhint:     %s\nplan:     %s\nstate:    %s\ncreated:  %s\n",
					k.ID, k.Name, k.Hint, cmpDash(k.PlanID), enabledWord(k.Enabled), k.CreatedAt.Format("2006-01-02 15:04:05Z07:00"))
			})
		},
	})
	for _, enable := range []bool{true, false} {
		use, short := "disable", "Disable an API key: calls with it are refused"
		if enable {
			use, short = "enable", "Enable an API key"
		}
		cmd.AddCommand(&cobra.Command{
			Use: use + " KEY", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				cl, err := c.client()
				if err != nil {
					return err
				}
				id, err := c.resolveKey(cmd.Context(), cl, args[0])
				if err != nil {
					return err
				}
				var k keyView
				if err := cl.Do(cmd.Context(), "PATCH", "/v1/keys/"+id, map[string]bool{"enabled": enable}, &k); err != nil {
					return err
				}
				return c.print(k, func(w io.Writer) { fmt.Fprintf(w, "API key %s (%s) %s\n", k.ID, k.Name, enabledWord(k.Enabled)) })
			},
		})
	}
	cmd.AddCommand(&cobra.Command{
		Use: "delete KEY", Short: "Delete an API key", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			id, err := c.resolveKey(cmd.Context(), cl, args[0])
			if err != nil {
				return err
			}
			var res map[string]string
			if err := cl.Do(cmd.Context(), "DELETE", "/v1/keys/"+id, nil, &res); err != nil {
				return err
			}
			return c.print(res, func(w io.Writer) { fmt.Fprintf(w, "API key %s deleted\n", id) })
		},
	})
	return cmd
}

func (c *cli) keysCreateCmd() *cobra.Command {
	var name, plan, value string
	var disabled bool
	cmd := &cobra.Command{
		Use:   "create --name N [--plan P] [--value V] [--disabled]",
		Short: "Create an API key (its value is printed once)",
		Long: `Create an API key, generated (40 letters and digits) or imported with --value
(20 to 128 printable characters). The cluster keeps only a hash: the value is
printed this once and can never be shown again. Callers send it in the
x-api-key header to routes with api_key_required, on stages the key's usage
plan covers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			req := keyRequest{Name: name, Value: value}
			if disabled {
				req.Enabled = new(bool)
			}
			if plan != "" {
				if req.PlanID, err = c.resolvePlan(cmd.Context(), cl, plan); err != nil {
					return err
				}
			}
			var k keyCreated
			if err := cl.Do(cmd.Context(), "POST", "/v1/keys", req, &k); err != nil {
				return err
			}
			return c.print(k, func(w io.Writer) {
				fmt.Fprintf(w, "API key %s created with id %s (plan %s, %s)\n", k.Name, k.ID, cmpDash(k.PlanID), enabledWord(k.Enabled))
				fmt.Fprintf(w, "value: %s\n", k.Value)
				fmt.Fprintln(w, "This value is shown only once: store it now. Callers send it as the x-api-key header.")
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "the key's name")
	f.StringVar(&plan, "plan", "", "usage plan (id or name) the key belongs to")
	f.StringVar(&value, "value", "", "import this value instead of generating one")
	f.BoolVar(&disabled, "disabled", false, "create the key disabled")
	return cmd
}

func enabledWord(on bool) string {
	if on {
		return "enabled"
	}
	return "disabled"
}

func cmpDash(s string) string { return cmp.Or(s, "-") }

// --- SigV4 credentials ---

func (c *cli) credentialsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "credentials", Short: "SigV4 access keys for AWS_IAM routes"}
	var name string
	create := &cobra.Command{
		Use: "create --name N", Short: "Issue an access key id and secret (the secret is printed once)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			var cr configs.Credential
			if err := cl.Do(cmd.Context(), "POST", "/v1/credentials", map[string]string{"name": name}, &cr); err != nil {
				return err
			}
			return c.print(cr, func(w io.Writer) {
				fmt.Fprintf(w, "credential %s created\naccess key id:     %s\nsecret access key: %s\n\n", cr.Name, cr.ID, cr.Secret)
				fmt.Fprintln(w, "The secret is shown only once: store it now. Sign requests with SigV4")
				fmt.Fprintln(w, "(service execute-api), for example with the AWS CLI or an SDK:")
				fmt.Fprintf(w, "  export AWS_ACCESS_KEY_ID=%s\n  export AWS_SECRET_ACCESS_KEY=%s\n", cr.ID, cr.Secret)
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "the credential's name")
	cmd.AddCommand(create)
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List credentials (never their secrets)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			var res struct {
				Credentials []configs.Credential `json:"credentials"`
			}
			if err := cl.Do(cmd.Context(), "GET", "/v1/credentials", nil, &res); err != nil {
				return err
			}
			return c.print(res.Credentials, func(w io.Writer) {
				var rows [][]string
				for _, cr := range res.Credentials {
					rows = append(rows, []string{cr.ID, cr.Name, enabledWord(cr.Enabled), cr.CreatedAt.Format("2006-01-02 15:04:05")})
				}
				table(w, "ACCESS KEY ID\tNAME\tSTATE\tCREATED", rows)
			})
		},
	})
	for _, enable := range []bool{true, false} {
		use, short := "disable", "Disable a credential: requests signed with it are refused"
		if enable {
			use, short = "enable", "Enable a credential"
		}
		cmd.AddCommand(&cobra.Command{
			Use: use + " ID", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				cl, err := c.client()
				if err != nil {
					return err
				}
				id, err := c.resolveCredential(cmd.Context(), cl, args[0])
				if err != nil {
					return err
				}
				var cr configs.Credential
				if err := cl.Do(cmd.Context(), "PATCH", "/v1/credentials/"+id, map[string]bool{"enabled": enable}, &cr); err != nil {
					return err
				}
				return c.print(cr, func(w io.Writer) { fmt.Fprintf(w, "credential %s (%s) %s\n", cr.ID, cr.Name, enabledWord(cr.Enabled)) })
			},
		})
	}
	cmd.AddCommand(&cobra.Command{
		Use: "delete ID", Short: "Delete a credential", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			id, err := c.resolveCredential(cmd.Context(), cl, args[0])
			if err != nil {
				return err
			}
			var res map[string]string
			if err := cl.Do(cmd.Context(), "DELETE", "/v1/credentials/"+id, nil, &res); err != nil {
				return err
			}
			return c.print(res, func(w io.Writer) { fmt.Fprintf(w, "credential %s deleted\n", id) })
		},
	})
	return cmd
}

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
			id, err := c.resolvePlan(cmd.Context(), cl, plan)
			if err != nil {
				return err
			}
			q := url.Values{"consistent": {"1"}, "plan": {id}}
			if key != "" {
				// A key's id, or the name of a key that still exists.
				kid, err := c.resolveKey(cmd.Context(), cl, key)
				if err != nil {
					kid = key
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
			if wafFile != "" {
				want, err := readWAFFile(wafFile)
				if err != nil {
					return err
				}
				var cur stageView
				if err := cl.Do(cmd.Context(), "GET", path+"?consistent", nil, &cur); err != nil {
					return err
				}
				var old any
				if cur.WAF != nil {
					b, _ := json.Marshal(cur.WAF)
					json.Unmarshal(b, &old)
				}
				patch["waf"] = replacingPatch(old, want)
			}
			var s stageView
			if err := cl.Do(cmd.Context(), "PATCH", path+"/settings", patch, &s); err != nil {
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
