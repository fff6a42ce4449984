package node

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/portico-gw/portico/cluster/pki"
)

// nodeNameRE is the rule configs.Node.Validate applies to node names: a
// certificate for any other name could never be used by a node.
var nodeNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func (c *cli) caCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Create the cluster CA and sign node certificates for node-to-node mutual TLS",
		Long: "Raft, config distribution, forwarding and admin-to-admin traffic run on mutual TLS under one\n" +
			"cluster CA: a node without a certificate from it cannot join. Create the CA once, sign one\n" +
			"certificate per node, copy ca.pem and the node's pair to the node, and keep ca-key.pem off the\n" +
			"nodes. `portico dev` does all of this by itself.",
	}
	cmd.AddCommand(c.caCreateCmd(), c.caSignCmd())
	return cmd
}

func (c *cli) caCreateCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "create --dir DIR",
		Short: "Create a cluster CA (DIR/ca.pem and DIR/ca-key.pem); never replaces an existing one",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			ca, err := pki.CreateCA(dir)
			if err != nil {
				return err
			}
			res := struct {
				CAFile    string    `json:"ca_file"`
				CAKeyFile string    `json:"ca_key_file"`
				NotAfter  time.Time `json:"not_after"`
			}{ca.CertFile, filepath.Join(dir, pki.CAKeyFile), ca.Cert.NotAfter}
			return c.print(res, func(w io.Writer) {
				fmt.Fprintf(w, "created cluster CA, valid until %s\n", res.NotAfter.Format(time.DateOnly))
				fmt.Fprintf(w, "  certificate  %s  (copy to every node)\n", res.CAFile)
				fmt.Fprintf(w, "  private key  %s  (keep it off the nodes; only `portico ca sign` needs it)\n", res.CAKeyFile)
			})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory for the CA files (created if missing)")
	cmd.MarkFlagRequired("dir")
	return cmd
}

func (c *cli) caSignCmd() *cobra.Command {
	var (
		node, dir, out string
		ips, dns       []string
		validity       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "sign --node NAME --dir DIR [--ip IP]... [--dns NAME]... [--out DIR]",
		Short: "Sign a certificate for a node (NAME.pem and NAME-key.pem), replacing any of those names",
		Long: "Sign a certificate for a node with the CA in --dir. The node name becomes the certificate's\n" +
			"common name and a DNS name: peers verify a node by its name, whatever address they dial.\n" +
			"--ip and --dns add more names (for clients that dial an address or a host name).",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if !nodeNameRE.MatchString(node) {
				return fmt.Errorf("--node %q: a node name is lowercase letters, digits and dashes (as in the node config)", node)
			}
			opts := pki.IssueOptions{CommonName: node, DNSNames: dns, Validity: validity}
			for _, s := range ips {
				ip := net.ParseIP(s)
				if ip == nil {
					return fmt.Errorf("--ip %q is not an IP address", s)
				}
				opts.IPs = append(opts.IPs, ip)
			}
			ca, err := pki.LoadCA(dir)
			if err != nil {
				return err
			}
			if out == "" {
				out = dir
			}
			certFile, keyFile, err := ca.IssueFiles(out, node, opts)
			if err != nil {
				return err
			}
			res := struct {
				Node     string `json:"node"`
				CertFile string `json:"cert_file"`
				KeyFile  string `json:"key_file"`
				CAFile   string `json:"ca_file"`
			}{node, certFile, keyFile, ca.CertFile}
			return c.print(res, func(w io.Writer) {
				fmt.Fprintf(w, "signed a certificate for node %s\n", node)
				fmt.Fprintf(w, "  certificate  %s\n", certFile)
				fmt.Fprintf(w, "  private key  %s\n", keyFile)
				fmt.Fprintf(w, "  cluster CA   %s\n", ca.CertFile)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&node, "node", "", "node name (the name in the node's config)")
	f.StringVar(&dir, "dir", "", "directory of the cluster CA (from `portico ca create`)")
	f.StringVar(&out, "out", "", "directory for the node's files (default: --dir)")
	f.StringSliceVar(&ips, "ip", nil, "IP address to add to the certificate (repeatable)")
	f.StringSliceVar(&dns, "dns", nil, "DNS name to add to the certificate (repeatable)")
	f.DurationVar(&validity, "validity", 365*24*time.Hour, "how long the certificate is valid (capped at the CA's expiry)")
	cmd.MarkFlagRequired("node")
	cmd.MarkFlagRequired("dir")
	return cmd
}
