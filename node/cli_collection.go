package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// collection is a kind of thing the admin API keeps under one path and
// the command line names by id or unique name: API keys, SigV4
// credentials, usage plans. Its fields are what the kinds differ in; the
// commands built from it are the same for each.
type collection[T any] struct {
	noun  string // in messages: "API key"
	path  string // the admin API's collection: "/v1/keys"
	field string // the field of GET path's answer holding the list: "keys"
	arg   string // the argument naming one in usage lines: "KEY"
	// flag, when set, is the flag that names one in other commands
	// ("plan"): resolve refuses an empty ref as that flag missing.
	flag  string
	ident func(T) (id, name string)
	// enabled reads the flag that enable and disable set; nil when the
	// kind has none.
	enabled func(T) bool
}

// apiRefs is the APIs as the command line names them (apiClient in
// cli.go, plans attach and detach): only the id and name of each are
// decoded.
var apiRefs = collection[apiRef]{
	noun: "API", path: "/v1/apis", field: "apis", arg: "API", flag: "api",
	ident: func(a apiRef) (string, string) { return a.ID, a.Name },
}

// apiRef is what resolving an API reads of each in GET /v1/apis.
type apiRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// list reads the collection; query, when set, starts with "?".
func (k collection[T]) list(ctx context.Context, cl *Client, query string) ([]T, error) {
	var res map[string]json.RawMessage
	if err := cl.Do(ctx, "GET", k.path+query, nil, &res); err != nil {
		return nil, err
	}
	var items []T
	if raw, ok := res[k.field]; ok {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("decode admin answer: %w", err)
		}
	}
	return items, nil
}

// errNoSuch is what resolve's error wraps (errors.Is) when nothing has
// the id or name: the one failure a caller may take as "gone" and fall
// back on using ref as an id (usage of a deleted key). A name held by several, a missing flag or
// an admin API that cannot be read are other errors.
var errNoSuch = errors.New("no such id or name")

// noSuchError is errNoSuch with the message that names what was looked
// for.
type noSuchError struct{ msg string }

func (e noSuchError) Error() string { return e.msg }
func (e noSuchError) Unwrap() error { return errNoSuch }

// resolve finds the one id that ref names: an id, else a unique name. It
// reads consistently, so what another node stored a moment ago is found.
// When nothing has that id or name, the error wraps errNoSuch.
func (k collection[T]) resolve(ctx context.Context, cl *Client, ref string) (string, error) {
	if ref == "" && k.flag != "" {
		return "", fmt.Errorf("--%s is required (%s %s id or name)", k.flag, article(k.noun), k.noun)
	}
	items, err := k.list(ctx, cl, "?consistent")
	if err != nil {
		return "", err
	}
	var byName []string
	for _, it := range items {
		id, name := k.ident(it)
		if id == ref {
			return id, nil
		}
		if name == ref {
			byName = append(byName, id)
		}
	}
	switch len(byName) {
	case 1:
		return byName[0], nil
	case 0:
		return "", noSuchError{fmt.Sprintf("no %s has the id or name %q", k.noun, ref)}
	}
	return "", fmt.Errorf("several %ss are named %q (%s); pass an id", k.noun, ref, strings.Join(byName, ", "))
}

// article is "an" before a noun that starts with a vowel letter ("an API
// key"), else "a" ("a usage plan").
func article(noun string) string {
	if noun != "" && strings.ContainsRune("AEIOUaeiou", rune(noun[0])) {
		return "an"
	}
	return "a"
}

// call sends method to the item ref names, decoding the answer into out,
// and returns the item's id.
func (k collection[T]) call(ctx context.Context, c *cli, ref, method string, body, out any) (string, error) {
	cl, err := c.client()
	if err != nil {
		return "", err
	}
	id, err := k.resolve(ctx, cl, ref)
	if err != nil {
		return "", err
	}
	return id, cl.Do(ctx, method, k.path+"/"+id, body, out)
}

// listCmd is `list`: a table of header and one row per item. query, when
// not nil, returns the query of the list request (after the flags of the
// command, which the caller adds, are read).
func (k collection[T]) listCmd(c *cli, use, short, header string, row func(T) []string, query func(context.Context, *Client) (string, error)) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			var q string
			if query != nil {
				if q, err = query(cmd.Context(), cl); err != nil {
					return err
				}
			}
			items, err := k.list(cmd.Context(), cl, q)
			if err != nil {
				return err
			}
			return c.print(items, func(w io.Writer) {
				var rows [][]string
				for _, it := range items {
					rows = append(rows, row(it))
				}
				table(w, header, rows)
			})
		},
	}
}

// getCmd is `get ARG`: the item, shown by show.
func (k collection[T]) getCmd(c *cli, short string, show func(T) error) *cobra.Command {
	return &cobra.Command{
		Use: "get " + k.arg, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v T
			if _, err := k.call(cmd.Context(), c, args[0], "GET", nil, &v); err != nil {
				return err
			}
			return show(v)
		},
	}
}

// toggleCmds are `enable ARG` and `disable ARG`, with their help texts.
func (k collection[T]) toggleCmds(c *cli, enableShort, disableShort string) []*cobra.Command {
	var cmds []*cobra.Command
	for _, enable := range []bool{true, false} {
		use, short := "disable", disableShort
		if enable {
			use, short = "enable", enableShort
		}
		cmds = append(cmds, &cobra.Command{
			Use: use + " " + k.arg, Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				var v T
				if _, err := k.call(cmd.Context(), c, args[0], "PATCH", map[string]bool{"enabled": enable}, &v); err != nil {
					return err
				}
				return c.print(v, func(w io.Writer) {
					id, name := k.ident(v)
					fmt.Fprintf(w, "%s %s (%s) %s\n", k.noun, id, name, enabledWord(k.enabled(v)))
				})
			},
		})
	}
	return cmds
}

// deleteCmd is `delete ARG`.
func (k collection[T]) deleteCmd(c *cli, short string) *cobra.Command {
	return &cobra.Command{
		Use: "delete " + k.arg, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res map[string]string
			id, err := k.call(cmd.Context(), c, args[0], "DELETE", nil, &res)
			if err != nil {
				return err
			}
			return c.print(res, func(w io.Writer) { fmt.Fprintf(w, "%s %s deleted\n", k.noun, id) })
		},
	}
}

func enabledWord(on bool) string {
	if on {
		return "enabled"
	}
	return "disabled"
}
