package endpoints

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/configs"
)

// CORS headers (Fetch standard, "CORS protocol").
const (
	hOrigin        = "Origin"
	hReqMethod     = "Access-Control-Request-Method"
	hReqHeaders    = "Access-Control-Request-Headers"
	hAllowOrigin   = "Access-Control-Allow-Origin"
	hAllowMethods  = "Access-Control-Allow-Methods"
	hAllowHeaders  = "Access-Control-Allow-Headers"
	hAllowCreds    = "Access-Control-Allow-Credentials"
	hExposeHeaders = "Access-Control-Expose-Headers"
	hMaxAge        = "Access-Control-Max-Age"
)

// corsPolicy is an API's CORS configuration compiled for the request
// path. As API Gateway does for HTTP APIs, the gateway answers preflight
// requests itself (OPTIONS routes are not consulted) and decides the CORS
// headers of every response of the API, replacing any the backend sent.
type corsPolicy struct {
	anyOrigin   bool
	origins     []string // lowercase, without a trailing "/"
	anyMethod   bool
	methods     string // for Allow-Methods
	methodList  []string
	anyHeader   bool
	headers     string   // for Allow-Headers
	headerList  []string // lowercase
	expose      string
	maxAge      string
	credentials bool
}

func compileCORS(c *configs.CORS) *corsPolicy {
	if c == nil {
		return nil
	}
	p := &corsPolicy{credentials: c.AllowCredentials, expose: strings.Join(c.ExposeHeaders, ", ")}
	for _, o := range c.AllowOrigins {
		if o == "*" {
			p.anyOrigin = true
			continue
		}
		p.origins = append(p.origins, strings.TrimSuffix(strings.ToLower(o), "/"))
	}
	for _, m := range c.AllowMethods {
		if m == "*" {
			p.anyMethod = true
			continue
		}
		p.methodList = append(p.methodList, m)
	}
	p.methods = strings.Join(p.methodList, ", ")
	for _, h := range c.AllowHeaders {
		if h == "*" {
			p.anyHeader = true
			continue
		}
		p.headerList = append(p.headerList, strings.ToLower(h))
	}
	p.headers = strings.Join(c.AllowHeaders, ", ")
	if c.MaxAge > 0 {
		p.maxAge = strconv.FormatInt(int64(c.MaxAge.D().Seconds()), 10)
	}
	return p
}

// allowOrigin is the Access-Control-Allow-Origin value for origin, or ""
// when the origin is not allowed. "*" is only used without credentials
// (validation refuses the combination).
func (p *corsPolicy) allowOrigin(origin string) string {
	if origin == "" {
		return ""
	}
	if p.anyOrigin {
		if p.credentials {
			return origin
		}
		return "*"
	}
	if slices.Contains(p.origins, strings.ToLower(origin)) {
		return origin
	}
	return ""
}

// safelistedMethods need no Allow-Methods entry (Fetch standard, "CORS-
// safelisted method").
var safelistedMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost}

// isPreflight says whether r is a CORS preflight request.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get(hOrigin) != "" && r.Header.Get(hReqMethod) != ""
}

// preflight answers a preflight request: 204 with the allowed methods and
// headers, or 403 naming what is not allowed.
func (p *corsPolicy) preflight(w http.ResponseWriter, r *http.Request, ex *exchange) {
	origin := r.Header.Get(hOrigin)
	allow := p.allowOrigin(origin)
	if allow == "" {
		writeError(w, ex.id, errCORSOrigin)
		return
	}
	method := r.Header.Get(hReqMethod)
	if !p.anyMethod && !slices.Contains(p.methodList, method) && !slices.Contains(safelistedMethods, method) {
		writeError(w, ex.id, newError(http.StatusForbidden, "CORS preflight: method "+strconv.Quote(method)+" is not allowed"))
		return
	}
	requested := r.Header.Get(hReqHeaders)
	if !p.anyHeader {
		for h := range strings.SplitSeq(requested, ",") {
			h = strings.ToLower(strings.TrimSpace(h))
			if h != "" && !slices.Contains(p.headerList, h) {
				writeError(w, ex.id, newError(http.StatusForbidden, "CORS preflight: header "+strconv.Quote(h)+" is not allowed"))
				return
			}
		}
	}
	h := w.Header()
	h.Set(hAllowOrigin, allow)
	h.Add("Vary", hOrigin)
	switch {
	case p.anyMethod:
		h.Set(hAllowMethods, method)
	case p.methods != "":
		h.Set(hAllowMethods, p.methods)
	}
	switch {
	case p.anyHeader && requested != "":
		h.Set(hAllowHeaders, requested)
	case !p.anyHeader && p.headers != "":
		h.Set(hAllowHeaders, p.headers)
	}
	if p.credentials {
		h.Set(hAllowCreds, "true")
	}
	if p.maxAge != "" {
		h.Set(hMaxAge, p.maxAge)
	}
	w.WriteHeader(http.StatusNoContent)
}

// decorate sets the CORS headers of an actual response for origin ("" when
// the request had none), replacing whatever the backend or a cached copy
// carried.
func (p *corsPolicy) decorate(h http.Header, origin string) {
	for _, k := range []string{hAllowOrigin, hAllowCreds, hExposeHeaders, hAllowMethods, hAllowHeaders, hMaxAge} {
		delete(h, k)
	}
	if !slices.Contains(h.Values("Vary"), hOrigin) {
		h.Add("Vary", hOrigin)
	}
	allow := p.allowOrigin(origin)
	if allow == "" {
		return
	}
	h.Set(hAllowOrigin, allow)
	if p.credentials {
		h.Set(hAllowCreds, "true")
	}
	if p.expose != "" {
		h.Set(hExposeHeaders, p.expose)
	}
}
