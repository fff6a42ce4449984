package node

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portico-gw/portico/configs"
)

// apisUpdateCmd changes an API's settings without editing its file; the
// change is a merge patch, validated and replicated like any write.
func (c *cli) apisUpdateCmd() *cobra.Command {
	var api, types, description string
	var compression int
	cmd := &cobra.Command{
		Use:   "update --api ID [--endpoint-types EDGE,REGIONAL] [--description D] [--minimum-compression-size N]",
		Short: "Change an API's endpoint types, description or compression threshold",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			patch := map[string]any{}
			if cmd.Flags().Changed("endpoint-types") {
				var list []string
				for _, t := range strings.Split(types, ",") {
					if t = strings.ToUpper(strings.TrimSpace(t)); t != "" {
						list = append(list, t)
					}
				}
				patch["endpoint_types"] = list
			}
			if cmd.Flags().Changed("description") {
				patch["description"] = description
			}
			if cmd.Flags().Changed("minimum-compression-size") {
				patch["minimum_compression_size"] = compression
			}
			if len(patch) == 0 {
				return errors.New("nothing to update: pass --endpoint-types, --description or --minimum-compression-size")
			}
			cl, id, err := c.apiClient(cmd.Context(), api)
			if err != nil {
				return err
			}
			var res applyResult
			if err := cl.Do(cmd.Context(), "PATCH", "/v1/apis/"+id, patch, &res); err != nil {
				return err
			}
			return c.print(res, func(w io.Writer) {
				fmt.Fprintf(w, "api %s updated: endpoint types %s\n", res.API.ID, joinTypes(res.API.EndpointTypes))
			})
		},
	}
	cmd.Flags().StringVar(&api, "api", "", "API id or name")
	cmd.Flags().StringVar(&types, "endpoint-types", "", "comma-separated endpoint types: EDGE, REGIONAL, PRIVATE")
	cmd.Flags().StringVar(&description, "description", "", "the API's description")
	cmd.Flags().IntVar(&compression, "minimum-compression-size", configs.DefaultCompressionSize, "smallest response body compressed, in bytes")
	return cmd
}

func joinTypes(ts []configs.EndpointType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}

// stagesUpdateCmd changes a stage's cache settings: only the flags given
// are sent, as a merge patch of the stage's cache.
func (c *cli) stagesUpdateCmd(path func(*cobra.Command, bool) (*Client, string, error), stage *string, printStage func(stageView) error) *cobra.Command {
	var enabled, honor, clientInval bool
	var ttl, capacity, swr, sie string
	var keyQuery, keyHeaders, methods []string
	cmd := &cobra.Command{
		Use:   "update --api ID --stage NAME [--cache-enabled] [--cache-ttl 300] [--cache-capacity 64MiB] [--cache-key-query q1,q2] [--cache-key-header h1]",
		Short: "Change a stage's cache settings",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			patch := map[string]any{}
			if f.Changed("cache-enabled") {
				patch["enabled"] = enabled
			}
			for _, d := range []struct{ flag, key, value string }{
				{"cache-ttl", "ttl", ttl},
				{"cache-stale-while-revalidate", "stale_while_revalidate", swr},
				{"cache-stale-if-error", "stale_if_error", sie},
			} {
				if !f.Changed(d.flag) {
					continue
				}
				v, err := parseSeconds(d.value)
				if err != nil {
					return fmt.Errorf("--%s: %w", d.flag, err)
				}
				patch[d.key] = v.String()
			}
			if f.Changed("cache-capacity") {
				b, err := configs.ParseByteSize(capacity)
				if err != nil {
					return fmt.Errorf("--cache-capacity: %w", err)
				}
				patch["capacity"] = b.String()
			}
			if f.Changed("cache-key-query") {
				patch["key_query"] = keyQuery
			}
			if f.Changed("cache-key-header") {
				patch["key_headers"] = keyHeaders
			}
			if f.Changed("cache-methods") {
				patch["methods"] = methods
			}
			if f.Changed("cache-honor-origin") {
				patch["honor_origin_cache_control"] = honor
			}
			if f.Changed("cache-allow-client-invalidation") {
				patch["allow_client_invalidation"] = clientInval
			}
			if len(patch) == 0 {
				return errors.New("nothing to update: pass at least one --cache-* flag")
			}
			cl, p, err := path(cmd, true)
			if err != nil {
				return err
			}
			var s stageView
			if err := cl.Do(cmd.Context(), "PATCH", p+"/"+*stage+"/cache", patch, &s); err != nil {
				return err
			}
			return printStage(s)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&enabled, "cache-enabled", false, "cache responses of the stage (--cache-enabled=false turns it off)")
	f.StringVar(&ttl, "cache-ttl", "", "seconds an entry is fresh, 0-3600 (or a duration such as 5m)")
	f.StringVar(&capacity, "cache-capacity", "", "bytes per node for this stage, e.g. 64MiB")
	f.StringSliceVar(&keyQuery, "cache-key-query", nil, "query strings that are part of the cache key")
	f.StringSliceVar(&keyHeaders, "cache-key-header", nil, "request headers that are part of the cache key")
	f.StringSliceVar(&methods, "cache-methods", nil, "methods that are cached (default GET,HEAD)")
	f.StringVar(&swr, "cache-stale-while-revalidate", "", "seconds an expired entry is served while it is refreshed")
	f.StringVar(&sie, "cache-stale-if-error", "", "seconds an expired entry is served while the backend fails")
	f.BoolVar(&honor, "cache-honor-origin", false, "let the backend's Cache-Control decide")
	f.BoolVar(&clientInval, "cache-allow-client-invalidation", false, "let callers refresh an entry with Cache-Control: max-age=0")
	return cmd
}

// parseSeconds reads "300" as seconds, or a Go duration such as "5m".
func parseSeconds(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither seconds nor a duration such as 5m", s)
	}
	return d, nil
}

// cacheCmd is `portico cache flush`.
func (c *cli) cacheCmd() *cobra.Command {
	var api, stage, prefix string
	cmd := &cobra.Command{Use: "cache", Short: "Invalidate cached responses"}
	flush := &cobra.Command{
		Use:   "flush --api ID --stage NAME [--path PREFIX]",
		Short: "Drop a stage's cached responses (or those under a path) on every edge and regional node",
		Long: `Flush commits an invalidation through Raft and gossips it, so every edge and
regional cache drops the entries within seconds, and a node that misses the
gossip drops them as soon as it has caught up with the committed state.
PREFIX is stage-relative: --path /items drops /items and /items/...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if stage == "" {
				return errors.New("--stage is required")
			}
			cl, id, err := c.apiClient(cmd.Context(), api)
			if err != nil {
				return err
			}
			var res map[string]any
			body := map[string]string{"prefix": prefix}
			if err := cl.Do(cmd.Context(), "POST", "/v1/apis/"+id+"/stages/"+stage+"/cache/flush", body, &res); err != nil {
				return err
			}
			return c.print(res, func(w io.Writer) {
				what := "all entries"
				if prefix != "" {
					what = "entries under " + prefix
				}
				fmt.Fprintf(w, "flushed %s of %s/%s (invalidation %v)\n", what, id, stage, res["seq"])
			})
		},
	}
	flush.Flags().StringVar(&api, "api", "", "API id or name")
	flush.Flags().StringVar(&stage, "stage", "", "stage name")
	flush.Flags().StringVar(&prefix, "path", "", "only paths starting with this stage-relative prefix, e.g. /items")
	cmd.AddCommand(flush)
	return cmd
}

// describeCache is a stage's cache settings on one line.
func describeCache(c *configs.StageCache) string {
	if !c.Enabled {
		return "off"
	}
	ttl := configs.DefaultCacheTTL
	if c.TTL != nil {
		ttl = c.TTL.D()
	}
	s := fmt.Sprintf("on, ttl %s, capacity %s per node", ttl, configs.ByteSize(c.CapacityBytes()))
	if len(c.KeyQuery) > 0 {
		s += ", key query " + strings.Join(c.KeyQuery, ",")
	}
	if len(c.KeyHeaders) > 0 {
		s += ", key headers " + strings.Join(c.KeyHeaders, ",")
	}
	if len(c.Overrides) > 0 {
		s += fmt.Sprintf(", %d route override(s)", len(c.Overrides))
	}
	return s
}
