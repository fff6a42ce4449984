package node

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/portico-gw/portico/configs"
)

// `portico keys` and `portico credentials`: the command line of admin_keys.go.

// apiKeys and credentials are what the two commands differ in; the
// shared commands are in cli_collection.go.
var (
	apiKeys = collection[keyView]{
		noun: "API key", path: "/v1/keys", field: "keys", arg: "KEY",
		ident:   func(k keyView) (string, string) { return k.ID, k.Name },
		enabled: func(k keyView) bool { return k.Enabled },
	}
	credentials = collection[configs.Credential]{
		noun: "credential", path: "/v1/credentials", field: "credentials", arg: "ID",
		ident:   func(cr configs.Credential) (string, string) { return cr.ID, cr.Name },
		enabled: func(cr configs.Credential) bool { return cr.Enabled },
	}
)

// --- API keys ---

// apiKeysCmd is `portico keys` (the gossip keys are `portico cluster keys`).
func (c *cli) apiKeysCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "API keys (sent in x-api-key) and the usage plans they belong to"}
	cmd.AddCommand(c.keysCreateCmd())
	var plan string
	list := apiKeys.listCmd(c, "list [--plan P]", "List API keys (never their values)", "ID\tNAME\tHINT\tPLAN\tSTATE\tCREATED",
		func(k keyView) []string {
			return []string{k.ID, k.Name, k.Hint, cmpDash(k.PlanID), enabledWord(k.Enabled), k.CreatedAt.Format("2006-01-02 15:04:05")}
		},
		func(ctx context.Context, cl *Client) (string, error) {
			if plan == "" {
				return "", nil
			}
			id, err := usagePlans.resolve(ctx, cl, plan)
			if err != nil {
				return "", err
			}
			return "?plan=" + url.QueryEscape(id), nil
		})
	list.Flags().StringVar(&plan, "plan", "", "only the keys of this usage plan (id or name)")
	cmd.AddCommand(list)
	cmd.AddCommand(apiKeys.getCmd(c, "Show an API key (by id or name; never its value)", func(k keyView) error {
		return c.print(k, func(w io.Writer) {
			fmt.Fprintf(w, "key:      %s\nname:     %s\nhint:     %s\nplan:     %s\nstate:    %s\ncreated:  %s\n",
				k.ID, k.Name, k.Hint, cmpDash(k.PlanID), enabledWord(k.Enabled), k.CreatedAt.Format("2006-01-02 15:04:05Z07:00"))
		})
	}))
	cmd.AddCommand(apiKeys.toggleCmds(c, "Enable an API key", "Disable an API key: calls with it are refused")...)
	cmd.AddCommand(apiKeys.deleteCmd(c, "Delete an API key"))
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
				if req.PlanID, err = usagePlans.resolve(cmd.Context(), cl, plan); err != nil {
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
	cmd.AddCommand(credentials.listCmd(c, "list", "List credentials (never their secrets)", "ACCESS KEY ID\tNAME\tSTATE\tCREATED",
		func(cr configs.Credential) []string {
			return []string{cr.ID, cr.Name, enabledWord(cr.Enabled), cr.CreatedAt.Format("2006-01-02 15:04:05")}
		}, nil))
	cmd.AddCommand(credentials.toggleCmds(c, "Enable a credential", "Disable a credential: requests signed with it are refused")...)
	cmd.AddCommand(credentials.deleteCmd(c, "Delete a credential"))
	return cmd
}
