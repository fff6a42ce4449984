package endpoints

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/portico-gw/portico/configs"
)

// Methods are numbered so a trie leaf can hold its routes in an array and
// the 405 answer can collect allowed methods in a bit set.
const (
	mGET = iota
	mPOST
	mPUT
	mPATCH
	mDELETE
	mHEAD
	mOPTIONS
	mANY
	numMethods
)

var methodNames = [numMethods]string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"}

// methodID returns the index of an HTTP method, or -1 for a method no
// route can name (it is then answered only by ANY).
func methodID(m string) int {
	switch m {
	case "GET":
		return mGET
	case "POST":
		return mPOST
	case "PUT":
		return mPUT
	case "PATCH":
		return mPATCH
	case "DELETE":
		return mDELETE
	case "HEAD":
		return mHEAD
	case "OPTIONS":
		return mOPTIONS
	case "ANY":
		return mANY
	}
	return -1
}

// methodSet holds one bit per method index.
type methodSet uint16

// allow renders the set as an Allow header value.
func (s methodSet) allow() string {
	var names []string
	for i := range mANY {
		if s&(1<<i) != 0 {
			names = append(names, methodNames[i])
		}
	}
	return strings.Join(names, ", ")
}

// route is one compiled operation: the handler chain that answers it and
// the names of the path parameters it captures, in path order.
type route struct {
	key     string // "GET /items/{id}", "$default"; the access log's route
	params  []string
	handler http.Handler
}

// node is one segment position of the trie. Children are tried in order
// literal, {param}, {greedy+}; a leaf holds a route per method.
type node struct {
	literal map[string]*node
	param   *node
	greedy  *node
	methods [numMethods]*route
	set     methodSet
}

// pick returns the route for the method: the exact method before ANY.
func (n *node) pick(m int) *route {
	if m >= 0 && n.methods[m] != nil {
		return n.methods[m]
	}
	return n.methods[mANY]
}

// router is the compiled route table of one deployed stage. It is built
// once and only read afterwards.
type router struct {
	root node
	def  *route // the HTTP API's $default route, tried last
}

// maxParams is how many parameter values a match keeps without
// allocating; deeper templates still work, they just allocate.
const maxParams = 8

// add inserts an operation. Two operations with the same method and
// shape ("/a/{x}" and "/a/{y}") are an error.
func (rt *router) add(op configs.Operation, h http.Handler) error {
	r := &route{key: op.Key(), handler: h}
	if op.Default {
		if rt.def != nil {
			return fmt.Errorf("%s: $default is defined twice", op.Field)
		}
		rt.def = r
		return nil
	}
	m := methodID(op.Method)
	if m < 0 {
		return fmt.Errorf("%s: unsupported method %q", op.Field, op.Method)
	}
	tmpl, err := configs.ParseTemplate(op.Path)
	if err != nil {
		return fmt.Errorf("%s: path %q: %w", op.Field, op.Path, err)
	}
	r.params = tmpl.Params()
	n := &rt.root
	for _, s := range tmpl.Segments {
		switch {
		case s.Greedy:
			if n.greedy == nil {
				n.greedy = &node{}
			}
			n = n.greedy
		case s.Param != "":
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
		default:
			if n.literal == nil {
				n.literal = map[string]*node{}
			}
			c := n.literal[s.Literal]
			if c == nil {
				c = &node{}
				n.literal[s.Literal] = c
			}
			n = c
		}
	}
	if prev := n.methods[m]; prev != nil {
		return fmt.Errorf("%s: %q matches the same requests as %q", op.Field, r.key, prev.key)
	}
	n.methods[m] = r
	n.set |= 1 << m
	return nil
}

// lookup matches a decoded API path (the part after the stage, without
// its leading slash: "" for the root, "items/42") and a method. It returns
// the route and the parameter values (appended to vals), or, when no route
// takes the method, the methods that would have matched the path.
//
// The first route in trie order that takes the method wins: literal before
// {param} before {greedy+}, backtracking when a branch has nothing for
// the request; then $default.
func (rt *router) lookup(method, path string, vals []string) (*route, []string, methodSet) {
	m := methodID(method)
	if m == mANY { // "ANY" is a route wildcard, not a method a client can send
		m = -1
	}
	var allow methodSet
	if r, v := rt.root.find(path, m, vals, &allow); r != nil {
		return r, v, 0
	}
	if rt.def != nil {
		return rt.def, vals, 0
	}
	return nil, vals, allow
}

func (n *node) find(rest string, m int, vals []string, allow *methodSet) (*route, []string) {
	if rest == "" {
		if r := n.pick(m); r != nil {
			return r, vals
		}
		*allow |= n.set
		return nil, vals
	}
	seg, after := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		seg, after = rest[:i], rest[i+1:]
	}
	if c := n.literal[seg]; c != nil {
		if r, v := c.find(after, m, vals, allow); r != nil {
			return r, v
		}
	}
	if n.param != nil {
		if r, v := n.param.find(after, m, append(vals, seg), allow); r != nil {
			return r, v
		}
	}
	if g := n.greedy; g != nil {
		if r := g.pick(m); r != nil {
			return r, append(vals, rest)
		}
		*allow |= g.set
	}
	return nil, vals
}
