package node

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portico-gw/portico/configs"
)

// `portico plans`: the command line of admin_plans.go.

// usagePlans is what `portico plans` shares with keys and credentials
// (cli_collection.go).
var usagePlans = collection[planView]{
	noun: "usage plan", path: "/v1/plans", field: "plans", arg: "PLAN", flag: "plan",
	ident: func(p planView) (string, string) { return p.ID, p.Name },
}

// --- plans ---

func (c *cli) plansCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "plans", Short: "Usage plans: throttles and quotas for API keys on chosen stages"}
	cmd.AddCommand(c.plansCreateCmd(), c.plansStageCmd(true), c.plansStageCmd(false))
	cmd.AddCommand(usagePlans.listCmd(c, "list", "List usage plans", "ID\tNAME\tTHROTTLE\tQUOTA\tSTAGES\tKEYS",
		func(p planView) []string {
			return []string{p.ID, p.Name, describeThrottle(p.Throttle), describeQuota(p.Quota), describePlanStages(p.Stages), fmt.Sprint(p.KeyCount)}
		}, nil))
	cmd.AddCommand(usagePlans.getCmd(c, "Show a usage plan (by id or name)", c.printPlan))
	cmd.AddCommand(usagePlans.deleteCmd(c, "Delete a usage plan; its keys stay, without a plan"))
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
			// A deleted API's stages leave every plan with it, so there is
			// nothing to detach by the id of an API that is gone.
			apiID, err := apiRefs.resolve(cmd.Context(), cl, api)
			if err != nil {
				return err
			}
			id, err := usagePlans.resolve(cmd.Context(), cl, plan)
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
