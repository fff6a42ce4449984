package node

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portico-gw/portico/configs"
)

// `portico keys` and `portico credentials`: the command line of admin_keys.go.

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
