package node

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portico-gw/portico/configs"
)

// domainsCmd is `portico domains`: custom domain names and their base
// path mappings, like API Gateway's domain names.
func (c *cli) domainsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "domains", Short: "Custom domain names and their base path mappings"}
	cmd.AddCommand(c.domainsCreateCmd(), c.domainsMapCmd(), c.domainsUnmapCmd())
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List custom domains", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			var res struct {
				Domains []domainView `json:"domains"`
			}
			if err := cl.Do(cmd.Context(), "GET", "/v1/domains", nil, &res); err != nil {
				return err
			}
			return c.print(res.Domains, func(w io.Writer) {
				var rows [][]string
				for _, d := range res.Domains {
					rows = append(rows, []string{d.Name, string(d.EndpointType), describeRegions(d), fmt.Sprint(len(d.Mappings)), d.CreatedAt.Format("2006-01-02 15:04:05")})
				}
				table(w, "DOMAIN\tTYPE\tREGIONS\tMAPPINGS\tCREATED", rows)
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "get NAME", Short: "Show a custom domain with its base path mappings", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			var d domainView
			if err := cl.Do(cmd.Context(), "GET", domainPath(args[0]), nil, &d); err != nil {
				return err
			}
			return c.printDomain(d)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "delete NAME", Short: "Delete a custom domain with its mappings", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			var res map[string]string
			if err := cl.Do(cmd.Context(), "DELETE", domainPath(args[0]), nil, &res); err != nil {
				return err
			}
			return c.print(res, func(w io.Writer) { fmt.Fprintf(w, "domain %s deleted\n", res["deleted"]) })
		},
	})
	return cmd
}

func (c *cli) domainsCreateCmd() *cobra.Command {
	var endpointType string
	var regions []string
	cmd := &cobra.Command{
		Use:   "create NAME [--endpoint-type REGIONAL|EDGE] [--regions r1,r2]",
		Short: "Create a custom domain name",
		Long: `Create a custom domain name such as api.example.com. A REGIONAL domain is
served in --regions (DNS answers with the lowest-latency healthy one); without
--regions, in the home regions of the APIs it maps. An EDGE domain is served
by every edge node. Map base paths to stages with ` + "`portico domains map`" + `.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			req := createDomainRequest{Name: args[0], EndpointType: configs.EndpointType(strings.ToUpper(endpointType)), Regions: regions}
			var d domainView
			if err := cl.Do(cmd.Context(), "POST", "/v1/domains", req, &d); err != nil {
				return err
			}
			return c.print(d, func(w io.Writer) {
				fmt.Fprintf(w, "domain %s created (%s, %s)\n", d.Name, d.EndpointType, describeRegions(d))
			})
		},
	}
	cmd.Flags().StringVar(&endpointType, "endpoint-type", string(configs.EndpointRegional), "REGIONAL or EDGE")
	cmd.Flags().StringSliceVar(&regions, "regions", nil, "regions that serve a REGIONAL domain (default: the home regions of the mapped APIs)")
	return cmd
}

func (c *cli) domainsMapCmd() *cobra.Command {
	var api, stage, base string
	cmd := &cobra.Command{
		Use:   "map NAME --api ID --stage S [--base-path P]",
		Short: "Map a base path of a custom domain to an API's stage",
		Long: `Map https://NAME/P/... to a stage of an API, which then sees /... . Without
--base-path (or with --base-path "(none)") the root of the domain is mapped: it
takes every request no other base path takes. Mapping a base path again
replaces it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if stage == "" {
				return errors.New("--stage is required")
			}
			cl, id, err := c.apiClient(cmd.Context(), api)
			if err != nil {
				return err
			}
			var d domainView
			body := mappingRequest{APIID: id, Stage: stage}
			if err := cl.Do(cmd.Context(), "PUT", mappingPath(args[0], base), body, &d); err != nil {
				return err
			}
			return c.print(d, func(w io.Writer) {
				fmt.Fprintf(w, "%s now serves stage %s of api %s\n", domainURL(d.Name, configs.NormalizeBasePath(base)), stage, id)
			})
		},
	}
	cmd.Flags().StringVar(&api, "api", "", "API id or name")
	cmd.Flags().StringVar(&stage, "stage", "", "stage name")
	cmd.Flags().StringVar(&base, "base-path", "", "one path segment, or (none) for the root (the default)")
	return cmd
}

func (c *cli) domainsUnmapCmd() *cobra.Command {
	var base string
	cmd := &cobra.Command{
		Use:   "unmap NAME [--base-path P]",
		Short: "Remove a base path mapping of a custom domain (default: the root mapping)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			var d domainView
			if err := cl.Do(cmd.Context(), "DELETE", mappingPath(args[0], base), nil, &d); err != nil {
				return err
			}
			return c.print(d, func(w io.Writer) {
				fmt.Fprintf(w, "%s unmapped\n", domainURL(d.Name, configs.NormalizeBasePath(base)))
			})
		},
	}
	cmd.Flags().StringVar(&base, "base-path", "", "one path segment, or (none) for the root (the default)")
	return cmd
}

func (c *cli) printDomain(d domainView) error {
	return c.print(d, func(w io.Writer) {
		fmt.Fprintf(w, "domain:      %s\ntype:        %s\nregions:     %s\ncreated:     %s\n\n",
			d.Name, d.EndpointType, describeRegions(d), d.CreatedAt.Format("2006-01-02 15:04:05Z07:00"))
		var rows [][]string
		for _, m := range d.Mappings {
			rows = append(rows, []string{configs.DisplayBasePath(m.BasePath), m.APIID, m.Stage, domainURL(d.Name, m.BasePath)})
		}
		table(w, "BASE PATH\tAPI\tSTAGE\tURL", rows)
	})
}

// describeRegions says where a domain is served.
func describeRegions(d domainView) string {
	switch {
	case d.EndpointType == configs.EndpointEdge:
		return "every edge"
	case len(d.Regions) > 0:
		return strings.Join(d.Regions, ",")
	case len(d.ServedRegions) > 0:
		return strings.Join(d.ServedRegions, ",") + " (from the mapped APIs)"
	}
	return "none yet (no mapping)"
}

func domainPath(name string) string { return "/v1/domains/" + url.PathEscape(name) }

// mappingPath is a mapping's admin path; an empty base is the root.
func mappingPath(name, base string) string {
	return domainPath(name) + "/mappings/" + url.PathEscape(configs.DisplayBasePath(configs.NormalizeBasePath(base)))
}

func domainURL(name, base string) string {
	if base == "" {
		return "https://" + name + "/"
	}
	return "https://" + name + "/" + base + "/"
}
