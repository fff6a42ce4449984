package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/portico-gw/portico/configs"
)

func table(w io.Writer, header string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func (c *cli) applyCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create or update an API from a definition (native YAML/JSON or OpenAPI 3.0)",
		Long: "Create or update an API. The file is Portico's native definition or an OpenAPI 3.0 document\n" +
			"(told apart by the top-level \"openapi\" key). An API is updated when the file names its id,\n" +
			"or when exactly one API has the file's name; otherwise a new API is created.\n" +
			"Stages keep serving their deployment until you run `portico deploy`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := readDefinition(file)
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			var res applyResult
			if err := cl.Do(cmd.Context(), "POST", "/v1/apply", data, &res); err != nil {
				return err
			}
			switch c.output {
			case "json":
				return c.print(res.API, nil)
			case "id":
				fmt.Fprintln(c.stdout, res.API.ID)
				return nil
			}
			verb := "updated"
			switch {
			case res.Created:
				verb = "created"
			case res.Unchanged:
				verb = "unchanged"
			}
			fmt.Fprintf(c.stdout, "api %s (%s) %s\n", res.API.ID, res.API.Name, verb)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "definition file, or - for stdin")
	return cmd
}

func (c *cli) validateCmd() *cobra.Command {
	var file, region string
	cmd := &cobra.Command{
		Use:   "validate -f FILE",
		Short: "Check a definition locally and list every problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := readDefinition(file)
			if err != nil {
				return err
			}
			a, format, err := configs.LoadAPI(data)
			if err == nil {
				a.ApplyDefaults(region)
				err = a.Validate()
			}
			var ve *configs.ValidationError
			if errors.As(err, &ve) {
				for _, fe := range ve.Errors {
					fmt.Fprintln(c.stderr, fe.Error())
				}
				return fmt.Errorf("%s: %d problem(s)", file, len(ve.Errors))
			}
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			kind := "native definition"
			if format == configs.FormatOpenAPI {
				kind = "OpenAPI document"
			}
			fmt.Fprintf(c.stdout, "%s: valid %s of %s API %q with %d operation(s)\n", file, kind, a.Kind, a.Name, len(a.Operations()))
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "definition file, or - for stdin")
	cmd.Flags().StringVar(&region, "region", "us-east-1", "home region assumed when the file names none")
	return cmd
}

func (c *cli) deployCmd() *cobra.Command {
	var api, stage, desc string
	var vars []string
	var wait bool
	var waitTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "deploy --api ID --stage NAME [--wait]",
		Short: "Snapshot an API into a new deployment and point a stage at it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, id, err := c.apiClient(cmd.Context(), api)
			if err != nil {
				return err
			}
			req := deployRequest{Stage: stage, Description: desc}
			for _, kv := range vars {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--var %q: want key=value", kv)
				}
				if req.Variables == nil {
					req.Variables = map[string]string{}
				}
				req.Variables[k] = v
			}
			var res struct {
				Deployment map[string]any `json:"deployment"`
				Stage      *stageView     `json:"stage"`
				Index      uint64         `json:"index"`
				Rollout    *rolloutView   `json:"rollout,omitempty"`
			}
			if err := cl.Do(cmd.Context(), "POST", "/v1/apis/"+id+"/deployments", req, &res); err != nil {
				return err
			}
			var waitErr error
			if wait {
				res.Rollout, waitErr = waitRollout(cmd.Context(), cl, id, res.Index, waitTimeout)
			}
			if err := c.print(res, func(w io.Writer) {
				fmt.Fprintf(w, "deployment %v of api %s created\n", res.Deployment["id"], id)
				if res.Stage != nil {
					fmt.Fprintf(w, "stage %s now serves it at %s\n", res.Stage.Name, res.Stage.InvokeURLs[string(configs.EndpointRegional)])
				}
				if res.Rollout != nil && res.Rollout.Done {
					fmt.Fprintf(w, "served by every node that serves the API: %s\n", strings.Join(res.Rollout.Serving, ", "))
				}
			}); err != nil {
				return err
			}
			return waitErr
		},
	}
	f := cmd.Flags()
	f.StringVar(&api, "api", "", "API id or name")
	f.StringVar(&stage, "stage", "", "stage to point at the new deployment (created if missing)")
	f.StringVar(&desc, "description", "", "deployment description")
	f.StringArrayVar(&vars, "var", nil, "stage variable key=value (repeatable)")
	f.BoolVar(&wait, "wait", false, "wait until every healthy node that serves the API serves the new deployment")
	f.DurationVar(&waitTimeout, "timeout", 30*time.Second, "how long --wait waits")
	cmd.MarkFlagRequired("api")
	return cmd
}

// waitRollout polls the rollout view until every node that serves the API
// reports index, or the timeout passes (the error names the laggards).
func waitRollout(ctx context.Context, cl *Client, apiID string, index uint64, timeout time.Duration) (*rolloutView, error) {
	deadline := time.Now().Add(timeout)
	for {
		var v rolloutView
		err := cl.Do(ctx, "GET", fmt.Sprintf("/v1/cluster/rollout?api=%s&index=%d", apiID, index), nil, &v)
		if err == nil && v.Done {
			return &v, nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return nil, fmt.Errorf("rollout not confirmed within %s: %w", timeout, err)
			}
			return &v, fmt.Errorf("rollout not complete after %s: %s still serve an older config (index < %d)", timeout, strings.Join(v.Lagging, ", "), index)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *cli) apisCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "apis", Short: "List, show, update and delete APIs"}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List APIs", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			var res struct {
				APIs []*configs.API `json:"apis"`
			}
			if err := cl.Do(cmd.Context(), "GET", "/v1/apis", nil, &res); err != nil {
				return err
			}
			return c.print(res.APIs, func(w io.Writer) {
				var rows [][]string
				for _, a := range res.APIs {
					rows = append(rows, []string{a.ID, a.Name, string(a.Kind), joinTypes(a.EndpointTypes), a.HomeRegion, fmt.Sprint(len(a.Operations()))})
				}
				table(w, "ID\tNAME\tKIND\tENDPOINTS\tREGION\tOPERATIONS", rows)
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "get ID", Short: "Show an API's definition (YAML, or JSON with -o json)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, id, err := c.apiClient(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var a json.RawMessage
			if err := cl.Do(cmd.Context(), "GET", "/v1/apis/"+id, nil, &a); err != nil {
				return err
			}
			return c.print(a, func(w io.Writer) {
				y, _ := yaml.JSONToYAML(a)
				w.Write(y)
			})
		},
	})
	cmd.AddCommand(c.apisUpdateCmd())
	cmd.AddCommand(&cobra.Command{
		Use: "delete ID", Short: "Delete an API with its stages and deployments", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, id, err := c.apiClient(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var res map[string]string
			if err := cl.Do(cmd.Context(), "DELETE", "/v1/apis/"+id, nil, &res); err != nil {
				return err
			}
			return c.print(res, func(w io.Writer) { fmt.Fprintf(w, "api %s deleted\n", id) })
		},
	})
	return cmd
}

func (c *cli) stagesCmd() *cobra.Command {
	var api, stage, to string
	cmd := &cobra.Command{Use: "stages", Short: "List, show, roll back and configure stages"}
	cmd.PersistentFlags().StringVar(&api, "api", "", "API id or name")
	cmd.PersistentFlags().StringVar(&stage, "stage", "", "stage name")
	pathOf := func(cmd *cobra.Command, needStage bool) (*Client, string, error) {
		cl, id, err := c.apiClient(cmd.Context(), api)
		if err != nil {
			return nil, "", err
		}
		if needStage && stage == "" {
			return nil, "", errors.New("--stage is required")
		}
		return cl, "/v1/apis/" + id + "/stages", nil
	}
	printStage := func(s stageView) error {
		switch c.output {
		case "url":
			fmt.Fprintln(c.stdout, s.InvokeURLs[string(configs.EndpointRegional)])
			return nil
		case "edge-url":
			fmt.Fprintln(c.stdout, s.InvokeURLs[string(configs.EndpointEdge)])
			return nil
		case "private-url":
			fmt.Fprintln(c.stdout, s.InvokeURLs[string(configs.EndpointPrivate)])
			return nil
		}
		return c.print(s, func(w io.Writer) {
			fmt.Fprintf(w, "stage:       %s\napi:         %s\ndeployment:  %s\nupdated:     %s\n", s.Name, s.APIID, s.DeploymentID, s.UpdatedAt.Format("2006-01-02 15:04:05Z07:00"))
			for _, t := range slices.Sorted(maps.Keys(s.InvokeURLs)) {
				fmt.Fprintf(w, "invoke URL:  %s (%s)\n", s.InvokeURLs[t], t)
			}
			for _, k := range slices.Sorted(maps.Keys(s.Variables)) {
				fmt.Fprintf(w, "variable:    %s=%s\n", k, s.Variables[k])
			}
			if s.Cache != nil {
				fmt.Fprintf(w, "cache:       %s\n", describeCache(s.Cache))
			}
		})
	}
	cmd.AddCommand(&cobra.Command{
		Use: "list --api ID", Short: "List an API's stages", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, path, err := pathOf(cmd, false)
			if err != nil {
				return err
			}
			var res struct {
				Stages []stageView `json:"stages"`
			}
			if err := cl.Do(cmd.Context(), "GET", path, nil, &res); err != nil {
				return err
			}
			return c.print(res.Stages, func(w io.Writer) {
				var rows [][]string
				for _, s := range res.Stages {
					rows = append(rows, []string{s.Name, s.DeploymentID, s.UpdatedAt.Format("2006-01-02 15:04:05"), s.InvokeURLs[string(configs.EndpointRegional)]})
				}
				table(w, "STAGE\tDEPLOYMENT\tUPDATED\tINVOKE URL", rows)
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "get --api ID --stage NAME", Short: "Show a stage with its invoke URLs", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, path, err := pathOf(cmd, true)
			if err != nil {
				return err
			}
			var s stageView
			if err := cl.Do(cmd.Context(), "GET", path+"/"+stage, nil, &s); err != nil {
				return err
			}
			return printStage(s)
		},
	})
	rollback := &cobra.Command{
		Use: "rollback --api ID --stage NAME [--to DEPLOYMENT]", Short: "Point a stage back at an earlier deployment (default: the one before)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, path, err := pathOf(cmd, true)
			if err != nil {
				return err
			}
			var s stageView
			if err := cl.Do(cmd.Context(), "POST", path+"/"+stage+"/rollback", map[string]string{"deployment_id": to}, &s); err != nil {
				return err
			}
			return printStage(s)
		},
	}
	rollback.Flags().StringVar(&to, "to", "", "deployment id to roll back to")
	cmd.AddCommand(rollback)
	var clearVars bool
	setVars := &cobra.Command{
		Use: "set-variables --api ID --stage NAME key=value... | --clear", Short: "Replace a stage's variables",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !clearVars {
				return errors.New("no variables given: pass key=value arguments, or --clear to remove them all")
			}
			cl, path, err := pathOf(cmd, true)
			if err != nil {
				return err
			}
			vars := map[string]string{}
			for _, kv := range args {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("%q: want key=value", kv)
				}
				vars[k] = v
			}
			var s stageView
			if err := cl.Do(cmd.Context(), "PUT", path+"/"+stage+"/variables", map[string]any{"variables": vars}, &s); err != nil {
				return err
			}
			return printStage(s)
		},
	}
	setVars.Flags().BoolVar(&clearVars, "clear", false, "remove every variable")
	cmd.AddCommand(setVars)
	cmd.AddCommand(c.stagesUpdateCmd(pathOf, &stage, printStage))
	cmd.AddCommand(&cobra.Command{
		Use: "delete --api ID --stage NAME", Short: "Delete a stage", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, path, err := pathOf(cmd, true)
			if err != nil {
				return err
			}
			var res map[string]string
			if err := cl.Do(cmd.Context(), "DELETE", path+"/"+stage, nil, &res); err != nil {
				return err
			}
			return c.print(res, func(w io.Writer) { fmt.Fprintf(w, "stage %s deleted\n", stage) })
		},
	})
	return cmd
}

func (c *cli) deploymentsCmd() *cobra.Command {
	var api string
	cmd := &cobra.Command{Use: "deployments", Short: "List an API's deployments"}
	cmd.PersistentFlags().StringVar(&api, "api", "", "API id or name")
	cmd.AddCommand(&cobra.Command{
		Use: "list --api ID", Short: "List deployments, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, id, err := c.apiClient(cmd.Context(), api)
			if err != nil {
				return err
			}
			var res struct {
				Deployments []struct {
					ID          string   `json:"id"`
					Description string   `json:"description"`
					CreatedAt   string   `json:"created_at"`
					Stages      []string `json:"stages"`
				} `json:"deployments"`
			}
			if err := cl.Do(cmd.Context(), "GET", "/v1/apis/"+id+"/deployments", nil, &res); err != nil {
				return err
			}
			return c.print(res.Deployments, func(w io.Writer) {
				var rows [][]string
				for _, d := range res.Deployments {
					rows = append(rows, []string{d.ID, d.CreatedAt, strings.Join(d.Stages, ","), d.Description})
				}
				table(w, "DEPLOYMENT\tCREATED\tSTAGES\tDESCRIPTION", rows)
			})
		},
	})
	return cmd
}

func (c *cli) exportCmd() *cobra.Command {
	var api, stage string
	cmd := &cobra.Command{
		Use: "export --api ID --stage NAME", Short: "Print a stage's deployed definition as OpenAPI 3.0 (YAML, or JSON with -o json)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, id, err := c.apiClient(cmd.Context(), api)
			if err != nil {
				return err
			}
			if stage == "" {
				return errors.New("--stage is required")
			}
			var doc json.RawMessage
			if err := cl.Do(cmd.Context(), "GET", "/v1/apis/"+id+"/stages/"+stage+"/export", nil, &doc); err != nil {
				return err
			}
			if c.output == "json" {
				_, err := c.stdout.Write(doc)
				return err
			}
			y, err := yaml.JSONToYAML(doc)
			if err != nil {
				return err
			}
			_, err = c.stdout.Write(y)
			return err
		},
	}
	cmd.Flags().StringVar(&api, "api", "", "API id or name")
	cmd.Flags().StringVar(&stage, "stage", "", "stage name")
	return cmd
}

func (c *cli) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use: "status", Short: "Show the node's Raft status", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			var st map[string]any
			if err := cl.Do(cmd.Context(), "GET", "/v1/status", nil, &st); err != nil {
				return err
			}
			return c.print(st, func(w io.Writer) {
				var rows [][]string
				rows = append(rows, []string{fmt.Sprint(st["node"]), fmt.Sprint(st["state"]), fmt.Sprint(st["leader"]),
					fmt.Sprint(st["applied_index"]), fmt.Sprint(st["state_index"])})
				table(w, "NODE\tRAFT\tLEADER\tAPPLIED\tSERVING", rows)
			})
		},
	}
}
