package node

import (
	"net/http"

	"github.com/portico-gw/portico/configs"
)

// createDomainRequest is the body of POST /v1/domains, the equivalent of
// `aws apigateway create-domain-name` without the certificate (TLS is
// node configuration).
type createDomainRequest struct {
	Name         string               `json:"name"`
	EndpointType configs.EndpointType `json:"endpoint_type,omitempty"`
	Regions      []string             `json:"regions,omitempty"`
}

// mappingRequest is the body of PUT /v1/domains/{name}/mappings/{base};
// the base path is the URL's ("(none)" for the root mapping).
type mappingRequest struct {
	APIID string `json:"api_id"`
	Stage string `json:"stage"`
}

// domainView is a domain with the regions that serve it now.
type domainView struct {
	*configs.Domain
	// ServedRegions are the domain's regions, or the home regions of the
	// APIs it maps when it names none; empty for EDGE.
	ServedRegions []string `json:"served_regions,omitempty"`
}

func domainViewOf(st *configs.State, d *configs.Domain) domainView {
	return domainView{Domain: d, ServedRegions: st.DomainRegions(d)}
}

func (ad *Admin) listDomains(r *http.Request) (int, any, error) {
	st := ad.store.State()
	out := []domainView{}
	for _, d := range st.DomainList() {
		out = append(out, domainViewOf(st, d))
	}
	return http.StatusOK, map[string]any{"domains": out, "index": st.Index}, nil
}

// domain finds the domain named in the URL (any case, with or without
// the final dot).
func (ad *Admin) domain(r *http.Request) (*configs.State, *configs.Domain, error) {
	st := ad.store.State()
	name := configs.CanonicalDomainName(r.PathValue("name"))
	d := st.Domain(name)
	if d == nil {
		return st, nil, errorf(http.StatusNotFound, "domain %q not found", name)
	}
	return st, d, nil
}

func (ad *Admin) getDomain(r *http.Request) (int, any, error) {
	st, d, err := ad.domain(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, domainViewOf(st, d), nil
}

func (ad *Admin) createDomain(r *http.Request) (int, any, error) {
	var req createDomainRequest
	if err := decodeInto(r, &req); err != nil {
		return 0, nil, err
	}
	d := &configs.Domain{Name: req.Name, EndpointType: req.EndpointType, Regions: req.Regions, CreatedAt: ad.now().UTC()}
	d.ApplyDefaults()
	if err := d.Validate(); err != nil {
		return 0, nil, err
	}
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	if ad.store.State().Domain(d.Name) != nil {
		return 0, nil, &adminError{status: http.StatusConflict, msg: "domain " + d.Name + " already exists",
			fields: []configs.FieldError{{Field: "name", Message: "already exists"}}}
	}
	if err := ad.store.PutDomain(r.Context(), d); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, domainViewOf(ad.store.State(), d), nil
}

// deleteDomain removes a domain with its mappings, as API Gateway's
// delete-domain-name does.
func (ad *Admin) deleteDomain(r *http.Request) (int, any, error) {
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	_, d, err := ad.domain(r)
	if err != nil {
		return 0, nil, err
	}
	if err := ad.store.DeleteDomain(r.Context(), d.Name); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"deleted": d.Name}, nil
}

// mapping finds the mapping named in the URL, with its domain.
func (ad *Admin) mapping(r *http.Request) (*configs.Domain, *configs.BasePathMapping, error) {
	_, d, err := ad.domain(r)
	if err != nil {
		return nil, nil, err
	}
	base := configs.NormalizeBasePath(r.PathValue("base"))
	m := d.Mapping(base)
	if m == nil {
		return nil, nil, errorf(http.StatusNotFound, "domain %s has no mapping for base path %s", d.Name, configs.DisplayBasePath(base))
	}
	return d, m, nil
}

func (ad *Admin) getMapping(r *http.Request) (int, any, error) {
	_, m, err := ad.mapping(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, m, nil
}

// putMapping maps a base path of a domain to an API's stage (created or
// replaced): `aws apigateway create-base-path-mapping`. It answers 201
// with the domain when the base path was new.
func (ad *Admin) putMapping(r *http.Request) (int, any, error) {
	var req mappingRequest
	if err := decodeInto(r, &req); err != nil {
		return 0, nil, err
	}
	m := configs.BasePathMapping{BasePath: configs.NormalizeBasePath(r.PathValue("base")), APIID: req.APIID, Stage: req.Stage}
	if err := m.Validate(); err != nil {
		return 0, nil, err
	}
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	st, d, err := ad.domain(r)
	if err != nil {
		return 0, nil, err
	}
	a := st.API(m.APIID)
	if a == nil {
		return 0, nil, &adminError{status: http.StatusNotFound, msg: "api " + m.APIID + " not found",
			fields: []configs.FieldError{{Field: "api_id", Message: "no API has this id"}}}
	}
	if st.Stage(a.ID, m.Stage) == nil {
		return 0, nil, &adminError{status: http.StatusNotFound, msg: "stage " + m.Stage + " of api " + a.ID + " not found",
			fields: []configs.FieldError{{Field: "stage", Message: "no such stage of this API; deploy it first"}}}
	}
	if !a.HasEndpointType(configs.EndpointRegional) && !a.HasEndpointType(configs.EndpointEdge) {
		return 0, nil, &adminError{status: http.StatusBadRequest, msg: "api " + a.ID + " is private",
			fields: []configs.FieldError{{Field: "api_id", Message: "a PRIVATE API cannot be mapped to a public custom domain"}}}
	}
	cur := d.Mapping(m.BasePath)
	if cur != nil && *cur == m {
		return http.StatusOK, domainViewOf(st, d), nil
	}
	nd := d.WithMapping(m)
	if err := nd.Validate(); err != nil {
		return 0, nil, err
	}
	if err := ad.store.PutDomain(r.Context(), nd); err != nil {
		return 0, nil, err
	}
	status := http.StatusOK
	if cur == nil {
		status = http.StatusCreated
	}
	return status, domainViewOf(ad.store.State(), nd), nil
}

// deleteMapping removes one base path mapping and answers with the domain.
func (ad *Admin) deleteMapping(r *http.Request) (int, any, error) {
	ad.writeMu.Lock()
	defer ad.writeMu.Unlock()
	d, m, err := ad.mapping(r)
	if err != nil {
		return 0, nil, err
	}
	nd, _ := d.WithoutMappings(func(x configs.BasePathMapping) bool { return x.BasePath == m.BasePath })
	if err := ad.store.PutDomain(r.Context(), nd); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, domainViewOf(ad.store.State(), nd), nil
}
