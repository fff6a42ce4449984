package node

import (
	"encoding/base64"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portico-gw/portico/cluster"
)

func (c *cli) clusterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Cluster membership, Raft voters and gossip keys"}
	cmd.AddCommand(&cobra.Command{
		Use: "status", Short: "Every node with its region, roles, health, config index and lag", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			var st clusterStatus
			if err := cl.Do(cmd.Context(), "GET", "/v1/cluster/status", nil, &st); err != nil {
				return err
			}
			return c.print(st, func(w io.Writer) {
				var rows [][]string
				for _, m := range st.Members {
					raft := "-"
					switch {
					case m.Leader:
						raft = "leader"
					case m.Voter:
						raft = "voter"
					}
					rows = append(rows, []string{m.Name, m.Region, strings.Join(m.Roles, ","), m.Status, m.Health, raft, fmt.Sprint(m.ConfigIndex), fmt.Sprint(m.Lag)})
				}
				table(w, "NODE\tREGION\tROLES\tGOSSIP\tHEALTH\tRAFT\tCONFIG INDEX\tLAG", rows)
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "join ADDR...", Short: "Join this node to the gossip addresses of other nodes", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			var res map[string]int
			if err := cl.Do(cmd.Context(), "POST", "/v1/cluster/join", map[string]any{"addresses": args}, &res); err != nil {
				return err
			}
			return c.print(res, func(w io.Writer) { fmt.Fprintf(w, "joined: contacted %d node(s)\n", res["contacted"]) })
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "remove NODE", Short: "Remove a node from Raft", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			var res map[string]string
			if err := cl.Do(cmd.Context(), "POST", "/v1/cluster/remove", map[string]string{"node": args[0]}, &res); err != nil {
				return err
			}
			return c.print(res, func(w io.Writer) { fmt.Fprintf(w, "removed %s from Raft\n", args[0]) })
		},
	})
	cmd.AddCommand(c.keysCmd())
	return cmd
}

func (c *cli) keysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Rotate the gossip encryption key without downtime: install, use, then remove the old key",
	}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "Keys held by the cluster, with how many nodes hold and use each", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			var st cluster.KeyStatus
			if err := cl.Do(cmd.Context(), "GET", "/v1/cluster/keys", nil, &st); err != nil {
				return err
			}
			return c.print(st, func(w io.Writer) {
				keys := make([]string, 0, len(st.Keys))
				for k := range st.Keys {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				var rows [][]string
				for _, k := range keys {
					rows = append(rows, []string{k, fmt.Sprintf("%d/%d", st.Keys[k], st.Nodes), fmt.Sprintf("%d", st.Primary[k])})
				}
				table(w, "KEY\tHELD BY\tPRIMARY ON", rows)
				for node, e := range st.Errors {
					fmt.Fprintf(w, "error from %s: %s\n", node, e)
				}
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "generate", Short: "Print a new random key (base64)", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintln(c.stdout, base64.StdEncoding.EncodeToString(cluster.GenerateKey()))
			return nil
		},
	})
	for _, op := range []struct{ name, short string }{
		{"install", "Add a key to every node's keyring"},
		{"use", "Make an installed key the one every node encrypts with"},
		{"remove", "Remove a key that is no longer used from every node"},
	} {
		cmd.AddCommand(&cobra.Command{
			Use: op.name + " KEY", Short: op.short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				cl, err := c.client()
				if err != nil {
					return err
				}
				var res cluster.KeyResult
				if err := cl.Do(cmd.Context(), "POST", "/v1/cluster/keys/"+op.name, map[string]string{"key": args[0]}, &res); err != nil {
					return err
				}
				return c.print(res, func(w io.Writer) {
					fmt.Fprintf(w, "%s: %d of %d node(s) answered\n", op.name, res.Responses, res.Nodes)
				})
			},
		})
	}
	return cmd
}
