package configs

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/portico-gw/portico/endpoints/validate"
)

// httpAPIJWTExport is shaped like API Gateway's export of an HTTP API with
// a JWT authorizer (Amazon Cognito) whose routes ask for scopes, and an
// IAM-authorized route.
const httpAPIJWTExport = `{
  "openapi" : "3.0.1",
  "info" : {
    "title" : "orders",
    "version" : "2024-05-01 10:00:00UTC"
  },
  "servers" : [ {
    "url" : "https://abcdef1234.execute-api.eu-west-1.amazonaws.com/{basePath}",
    "variables" : { "basePath" : { "default" : "" } }
  } ],
  "paths" : {
    "/orders" : {
      "get" : {
        "responses" : { "default" : { "description" : "Default response for GET /orders" } },
        "security" : [ { "cognito" : [ "orders/read" ] } ],
        "x-amazon-apigateway-integration" : {
          "payloadFormatVersion" : "1.0",
          "type" : "http_proxy",
          "httpMethod" : "ANY",
          "uri" : "https://orders.example.com/orders",
          "connectionType" : "INTERNET"
        }
      },
      "post" : {
        "responses" : { "default" : { "description" : "Default response for POST /orders" } },
        "security" : [ { "cognito" : [ "orders/write", "orders/admin" ] } ],
        "x-amazon-apigateway-integration" : {
          "payloadFormatVersion" : "1.0",
          "type" : "http_proxy",
          "httpMethod" : "ANY",
          "uri" : "https://orders.example.com/orders",
          "connectionType" : "INTERNET"
        }
      }
    },
    "/admin/{proxy+}" : {
      "x-amazon-apigateway-any-method" : {
        "parameters" : [ {
          "name" : "proxy+",
          "in" : "path",
          "required" : true,
          "schema" : { "type" : "string" }
        } ],
        "security" : [ { "sigv4" : [ ] } ],
        "x-amazon-apigateway-integration" : {
          "payloadFormatVersion" : "1.0",
          "type" : "http_proxy",
          "httpMethod" : "ANY",
          "uri" : "https://admin.example.com/{proxy}",
          "connectionType" : "INTERNET"
        }
      }
    },
    "/health" : {
      "get" : {
        "responses" : { "default" : { "description" : "Default response for GET /health" } },
        "x-amazon-apigateway-integration" : {
          "payloadFormatVersion" : "1.0",
          "type" : "http_proxy",
          "httpMethod" : "ANY",
          "uri" : "https://orders.example.com/health",
          "connectionType" : "INTERNET"
        }
      }
    }
  },
  "components" : {
    "securitySchemes" : {
      "sigv4" : {
        "type" : "apiKey",
        "name" : "Authorization",
        "in" : "header",
        "x-amazon-apigateway-authtype" : "awsSigv4"
      },
      "cognito" : {
        "type" : "oauth2",
        "flows" : { },
        "x-amazon-apigateway-authorizer" : {
          "identitySource" : "$request.header.Authorization",
          "jwtConfiguration" : {
            "audience" : [ "6pd0jnhd7pfgj3nbcbq7ntcdpi" ],
            "issuer" : "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI"
          },
          "type" : "jwt"
        }
      }
    }
  },
  "x-amazon-apigateway-importexport-version" : "1.0"
}`

// restAPISecureExport is shaped like API Gateway's export of a REST API
// (OpenAPI 3 + API Gateway extensions) with an API key, a Lambda request
// authorizer, a token authorizer, IAM, request validators with a default,
// required query and header parameters and body models, one with nested
// references. The document-level security is not something API Gateway
// writes, but OpenAPI allows it and it applies to /health's neighbours.
const restAPISecureExport = `openapi: "3.0.1"
info:
  title: "PetStore"
  version: "2024-05-01T10:00:00Z"
servers:
- url: "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/{basePath}"
  variables:
    basePath:
      default: "prod"
paths:
  /pets:
    get:
      parameters:
      - name: "limit"
        in: "query"
        required: true
        schema:
          type: "string"
      - name: "page"
        in: "query"
        schema:
          type: "string"
      - name: "X-Request-Id"
        in: "header"
        required: true
        schema:
          type: "string"
      responses:
        "200":
          description: "200 response"
      security:
      - api_key: []
        request_auth: []
      x-amazon-apigateway-request-validator: "params-only"
      x-amazon-apigateway-integration:
        httpMethod: "GET"
        uri: "https://petstore.example.com/pets"
        passthroughBehavior: "when_no_match"
        type: "http_proxy"
    post:
      operationId: "createPet"
      requestBody:
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/NewPet"
        required: true
      responses:
        "200":
          description: "200 response"
      x-amazon-apigateway-integration:
        httpMethod: "POST"
        uri: "https://petstore.example.com/pets"
        passthroughBehavior: "when_no_match"
        type: "http_proxy"
  /pets/{petId}:
    parameters:
    - name: "petId"
      in: "path"
      required: true
      schema:
        type: "string"
    - name: "X-Tenant"
      in: "header"
      required: true
      schema:
        type: "string"
    put:
      requestBody:
        content:
          application/json:
            schema:
              type: "object"
              properties:
                tags:
                  type: "array"
                  items:
                    $ref: "#/components/schemas/Tag"
      responses:
        "200":
          description: "200 response"
      security:
      - token_auth: []
      x-amazon-apigateway-request-validator: "body-only"
      x-amazon-apigateway-integration:
        httpMethod: "PUT"
        uri: "https://petstore.example.com/pets/{petId}"
        passthroughBehavior: "when_no_match"
        type: "http_proxy"
    delete:
      responses:
        "204":
          description: "204 response"
      x-amazon-apigateway-auth:
        type: "AWS_IAM"
      x-amazon-apigateway-integration:
        httpMethod: "DELETE"
        uri: "https://petstore.example.com/pets/{petId}"
        passthroughBehavior: "when_no_match"
        type: "http_proxy"
  /health:
    get:
      security: []
      x-amazon-apigateway-request-validator: null
      responses:
        "200":
          description: "200 response"
      x-amazon-apigateway-integration:
        type: "mock"
        requestTemplates:
          application/json: "{\"statusCode\": 200}"
        responses:
          default:
            statusCode: "200"
components:
  schemas:
    Empty:
      title: "Empty Schema"
      type: "object"
    NewPet:
      $schema: "http://json-schema.org/draft-04/schema#"
      type: "object"
      required:
      - "name"
      - "owner"
      properties:
        name:
          type: "string"
          minLength: 1
        tags:
          type: "array"
          items:
            $ref: "#/components/schemas/Tag"
        owner:
          $ref: "#/components/schemas/Owner"
    Tag:
      type: "object"
      properties:
        name:
          type: "string"
    Owner:
      type: "object"
      required:
      - "email"
      properties:
        email:
          type: "string"
        address:
          $ref: "#/components/schemas/Address"
    Address:
      type: "object"
      properties:
        zip:
          type: "string"
          pattern: "^[0-9]{5}$"
  securitySchemes:
    api_key:
      type: "apiKey"
      name: "x-api-key"
      in: "header"
    request_auth:
      type: "apiKey"
      name: "Unused"
      in: "header"
      x-amazon-apigateway-authtype: "custom"
      x-amazon-apigateway-authorizer:
        authorizerUri: "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:auth/invocations"
        authorizerResultTtlInSeconds: 60
        identitySource: "method.request.header.X-Tenant, method.request.querystring.session"
        type: "request"
      x-portico-authorizer-url: "https://auth.internal.example.com/request"
    token_auth:
      type: "apiKey"
      name: "X-Token"
      in: "header"
      x-amazon-apigateway-authtype: "custom"
      x-amazon-apigateway-authorizer:
        authorizerUri: "https://auth.example.com/token"
        authorizerResultTtlInSeconds: 0
        type: "token"
      x-portico-authorizer:
        timeout: "2s"
        context_to_headers:
          tenant: "X-Tenant-Id"
security:
- api_key: []
x-amazon-apigateway-request-validators:
  all:
    validateRequestBody: true
    validateRequestParameters: true
  params-only:
    validateRequestBody: false
    validateRequestParameters: true
  body-only:
    validateRequestBody: true
    validateRequestParameters: false
x-amazon-apigateway-request-validator: "all"
`

func importValid(t *testing.T, doc, region string) *API {
	t.Helper()
	a, err := ImportOpenAPI([]byte(doc))
	if err != nil {
		t.Fatalf("ImportOpenAPI: %v", err)
	}
	a.ApplyDefaults(region)
	if err := a.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	// Every operation's request validator compiles as the gateway
	// compiles it.
	for _, op := range a.Operations() {
		if _, err := validate.Compile(a.ValidationSpec(op.Access.Validation)); err != nil {
			t.Errorf("%s: validation does not compile: %v", op.Field, err)
		}
	}
	return a
}

func TestImportHTTPAPIJWTAuthorizer(t *testing.T) {
	t.Parallel()
	a := importValid(t, httpAPIJWTExport, "eu-west-1")
	const issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI"
	wantAuth := []Authorizer{{
		Name: "cognito", Type: AuthorizerJWT, Issuer: issuer,
		Audiences: []string{"6pd0jnhd7pfgj3nbcbq7ntcdpi"},
		// Derived: the export names no JWKS URI.
		JWKSURI: issuer + "/.well-known/jwks.json",
	}}
	if !reflect.DeepEqual(a.Authorizers, wantAuth) {
		t.Errorf("authorizers\n got: %s\nwant: %s", mustJSON(t, a.Authorizers), mustJSON(t, wantAuth))
	}
	want := map[string]Access{
		"GET /orders":         {Authorization: AuthJWT, Authorizer: "cognito", AuthorizationScopes: []string{"orders/read"}},
		"POST /orders":        {Authorization: AuthJWT, Authorizer: "cognito", AuthorizationScopes: []string{"orders/write", "orders/admin"}},
		"ANY /admin/{proxy+}": {Authorization: AuthIAM},
		"GET /health":         {},
	}
	if len(a.Routes) != len(want) {
		t.Fatalf("got %d routes, want %d", len(a.Routes), len(want))
	}
	for _, r := range a.Routes {
		if !reflect.DeepEqual(r.Access, want[r.Key]) {
			t.Errorf("%s: access %s, want %s", r.Key, mustJSON(t, r.Access), mustJSON(t, want[r.Key]))
		}
	}
	if a.Models != nil {
		t.Errorf("models %s, want none", mustJSON(t, a.Models))
	}
}

func TestImportRESTAPISecurityAndValidation(t *testing.T) {
	t.Parallel()
	a := importValid(t, restAPISecureExport, "us-east-1")
	ttl60, ttl0 := Duration(60*time.Second), Duration(0)
	wantAuth := []Authorizer{
		{
			Name: "request_auth", Type: AuthorizerRequest,
			URI:             "https://auth.internal.example.com/request", // x-portico-authorizer-url over the Lambda ARN
			IdentitySources: []string{"header.X-Tenant", "query.session"},
			TTL:             &ttl60,
		},
		{
			Name: "token_auth", Type: AuthorizerToken,
			URI:              "https://auth.example.com/token",
			IdentitySources:  []string{"header.X-Token"}, // the scheme's header
			TTL:              &ttl0,
			Timeout:          Duration(2 * time.Second),
			ContextToHeaders: map[string]string{"tenant": "X-Tenant-Id"},
		},
	}
	if !reflect.DeepEqual(a.Authorizers, wantAuth) {
		t.Errorf("authorizers\n got: %s\nwant: %s", mustJSON(t, a.Authorizers), mustJSON(t, wantAuth))
	}
	const putModel = "PUT_pets_petId_Body"
	want := map[string]Access{
		// Its own security (key and authorizer) and validator.
		"GET /pets": {APIKeyRequired: true, Authorization: AuthCustom, Authorizer: "request_auth",
			Validation: &Validation{Parameters: true, RequiredQuery: []string{"limit"}, RequiredHeaders: []string{"X-Request-Id"}}},
		// The document's security and validator.
		"POST /pets": {APIKeyRequired: true,
			Validation: &Validation{Parameters: true, Body: true, Models: map[string]string{"application/json": "NewPet"}}},
		// body-only: the path item's required header is not checked.
		"PUT /pets/{petId}": {Authorization: AuthCustom, Authorizer: "token_auth",
			Validation: &Validation{Body: true, Models: map[string]string{"application/json": putModel}}},
		// The document's security and validator, and IAM; the validator
		// checks the path item's required header.
		"DELETE /pets/{petId}": {APIKeyRequired: true, Authorization: AuthIAM,
			Validation: &Validation{Parameters: true, RequiredHeaders: []string{"X-Tenant"}}},
		// security: [] and a null validator turn both off.
		"GET /health": {},
	}
	ops := a.Operations()
	if len(ops) != len(want) {
		t.Fatalf("got %d operations, want %d", len(ops), len(want))
	}
	for _, op := range ops {
		if w, ok := want[op.Key()]; !ok || !reflect.DeepEqual(op.Access, w) {
			t.Errorf("%s: access %s, want %s", op.Key(), mustJSON(t, op.Access), mustJSON(t, w))
		}
	}

	// Models are self-contained: references became #/definitions/…, the
	// draft-04 "$schema" (the default) is dropped, and only schemas a
	// request body uses are models.
	tag := `{"type":"object","properties":{"name":{"type":"string"}}}`
	wantModels := map[string]string{
		"NewPet": `{"type":"object","required":["name","owner"],"properties":{
			"name":{"type":"string","minLength":1},
			"tags":{"type":"array","items":{"$ref":"#/definitions/Tag"}},
			"owner":{"$ref":"#/definitions/Owner"}},
			"definitions":{
				"Tag":` + tag + `,
				"Owner":{"type":"object","required":["email"],"properties":{"email":{"type":"string"},"address":{"$ref":"#/definitions/Address"}}},
				"Address":{"type":"object","properties":{"zip":{"type":"string","pattern":"^[0-9]{5}$"}}}}}`,
		putModel: `{"type":"object","properties":{"tags":{"type":"array","items":{"$ref":"#/definitions/Tag"}}},
			"definitions":{"Tag":` + tag + `}}`,
	}
	if len(a.Models) != len(wantModels) {
		t.Errorf("models %v, want %v", keys(a.Models), keys(wantModels))
	}
	for name, w := range wantModels {
		if !sameJSON(t, a.Models[name], []byte(w)) {
			t.Errorf("model %s\n got: %s\nwant: %s", name, a.Models[name], w)
		}
	}
}

// TestImportedModelValidatesNestedReferences runs a body through the
// request validator with the imported model: a rule two references deep
// holds.
func TestImportedModelValidatesNestedReferences(t *testing.T) {
	t.Parallel()
	a := importValid(t, restAPISecureExport, "us-east-1")
	v, err := validate.Compile(validate.Spec{ValidateBody: true, Models: map[string]validate.Model{
		"application/json": {Name: "NewPet", Schema: a.Models["NewPet"]},
	}})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	for _, tt := range []struct {
		body, fail string // fail: "" passes, else part of the message
	}{
		{`{"name":"rex","owner":{"email":"a@example.com","address":{"zip":"12345"}},"tags":[{"name":"dog"}]}`, ""},
		{`{"name":"rex","owner":{"email":"a@example.com","address":{"zip":"1234x"}}}`, "/owner/address/zip"},
		{`{"name":"rex","owner":{}}`, "/owner"},
		{`{"name":"rex","owner":{"email":"e"},"tags":[{"name":7}]}`, "/tags/0/name"},
	} {
		r := httptest.NewRequest("POST", "/pets", strings.NewReader(tt.body))
		r.Header.Set("Content-Type", "application/json")
		_, f := v.Check(r, func(string) string { return "" })
		switch {
		case tt.fail == "" && f != nil:
			t.Errorf("%s: refused: %s", tt.body, f.Message)
		case tt.fail != "" && f == nil:
			t.Errorf("%s: accepted, want a failure at %s", tt.body, tt.fail)
		case tt.fail != "" && !strings.Contains(f.Message, tt.fail):
			t.Errorf("%s: failure %q does not name %s", tt.body, f.Message, tt.fail)
		}
	}
}

func TestImportAccessDetails(t *testing.T) {
	t.Parallel()
	const head = "openapi: 3.0.3\ninfo: {title: t}\n"
	const integ = "x-amazon-apigateway-integration: {type: mock}"
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, a *API)
	}{
		{"jwks uri from the extension", head + `paths: {/a: {get: {security: [{jwt: []}], ` + integ + `}}}
components:
  securitySchemes:
    jwt:
      type: openIdConnect
      openIdConnectUrl: https://id.example.com/.well-known/openid-configuration
      x-portico-jwks-uri: https://id.example.com/oauth2/v1/keys
      x-portico-authorizer: {algorithms: [ES256], claims_to_headers: {sub: X-User}}
      x-amazon-apigateway-authorizer: {type: jwt, jwtConfiguration: {issuer: "https://id.example.com/", audience: [api]}}
`, func(t *testing.T, a *API) {
			want := Authorizer{Name: "jwt", Type: AuthorizerJWT, Issuer: "https://id.example.com/", Audiences: []string{"api"},
				JWKSURI: "https://id.example.com/oauth2/v1/keys", Algorithms: []string{"ES256"}, ClaimsToHeaders: map[string]string{"sub": "X-User"}}
			if !reflect.DeepEqual(a.Authorizers, []Authorizer{want}) {
				t.Errorf("authorizers %s", mustJSON(t, a.Authorizers))
			}
		}},
		{"default jwks uri without the issuer's trailing slash", head + `paths: {/a: {get: {security: [{jwt: [read]}], ` + integ + `}}}
components:
  securitySchemes:
    jwt: {type: oauth2, flows: {}, x-amazon-apigateway-authorizer: {type: jwt, jwtConfiguration: {issuer: "https://tenant.example.com/", audience: [api]}}}
`, func(t *testing.T, a *API) {
			if got := a.Authorizers[0].JWKSURI; got != "https://tenant.example.com/.well-known/jwks.json" {
				t.Errorf("jwks uri %q", got)
			}
		}},
		{"top-level security and its override", head + `security: [{key: []}]
paths:
  /a: {get: {` + integ + `}, post: {security: [], ` + integ + `}}
components: {securitySchemes: {key: {type: apiKey, in: header, name: X-API-Key}}}
`, func(t *testing.T, a *API) {
			m := a.Resources[0].Methods
			if !m["GET"].APIKeyRequired || m["POST"].APIKeyRequired {
				t.Errorf("GET %v, POST %v; want the key on GET only", m["GET"].APIKeyRequired, m["POST"].APIKeyRequired)
			}
		}},
		{"token authorizer on Authorization keeps the default", head + `paths: {/a: {get: {security: [{tok: []}], ` + integ + `}}}
components:
  securitySchemes:
    tok: {type: apiKey, in: header, name: Authorization, x-amazon-apigateway-authorizer: {type: token, authorizerUri: "http://auth.example.com"}}
`, func(t *testing.T, a *API) {
			az := a.Authorizers[0]
			if az.IdentitySources != nil || az.TTL != nil || az.URI != "http://auth.example.com" {
				t.Errorf("authorizer %s", mustJSON(t, az))
			}
		}},
		{"HTTP API identity sources as a list", head + `x-portico-kind: HTTP
paths: {/a: {get: {security: [{req: []}], ` + integ + `}}}
components:
  securitySchemes:
    req: {type: apiKey, in: header, name: Unused, x-amazon-apigateway-authorizer: {type: request, authorizerUri: "https://auth.example.com", identitySource: ["$request.header.Cookie", "$request.querystring.t"]}}
`, func(t *testing.T, a *API) {
			if got := a.Authorizers[0].IdentitySources; !reflect.DeepEqual(got, []string{"header.Cookie", "query.t"}) {
				t.Errorf("identity sources %v", got)
			}
			if a.Routes[0].Authorization != AuthCustom {
				t.Errorf("route access %s", mustJSON(t, a.Routes[0].Access))
			}
		}},
		{"media types: any range and parameters", head + `paths:
  /a:
    post:
      requestBody:
        content:
          "*/*": {schema: {$ref: "#/components/schemas/Blob"}}
          "application/json; charset=utf-8": {schema: {$ref: "#/components/schemas/Blob"}}
          "text/plain": {schema: {type: string}}
      x-amazon-apigateway-request-validator: v
      ` + integ + `
x-amazon-apigateway-request-validators: {v: {validateRequestBody: true}}
components: {schemas: {Blob: {type: object}}}
`, func(t *testing.T, a *API) {
			want := &Validation{Body: true, Models: map[string]string{
				"$default": "Blob", "application/json": "Blob", "text/plain": "POST_a_Body_text_plain",
			}}
			if got := a.Resources[0].Methods["POST"].Validation; !reflect.DeepEqual(got, want) {
				t.Errorf("validation %s", mustJSON(t, got))
			}
		}},
		{"recursive schema refers to its root", head + `paths: {/a: {post: {requestBody: {content: {application/json: {schema: {$ref: "#/components/schemas/Tree"}}}}, ` + integ + `}}}
components:
  schemas:
    Tree: {type: object, properties: {kids: {type: array, items: {$ref: "#/components/schemas/Tree"}}, leaf: {$ref: "#/components/schemas/Leaf"}}}
    Leaf: {type: object, properties: {up: {$ref: "#/components/schemas/Tree"}}}
`, func(t *testing.T, a *API) {
			want := `{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#"}},"leaf":{"$ref":"#/definitions/Leaf"}},
				"definitions":{"Leaf":{"type":"object","properties":{"up":{"$ref":"#"}}}}}`
			if !sameJSON(t, a.Models["Tree"], []byte(want)) {
				t.Errorf("model %s", a.Models["Tree"])
			}
			// No validator: the model is kept, the body is not checked.
			if v := a.Resources[0].Methods["POST"].Validation; v.Body || v.Parameters {
				t.Errorf("validation %s", mustJSON(t, v))
			}
		}},
		{"enum values are data, not references", head + `paths: {/a: {post: {operationId: "make-thing", requestBody: {content: {application/json: {schema: {type: object, properties: {enum: {$ref: "#/components/schemas/E"}}, default: {$ref: "#/components/schemas/E"}}}}}, ` + integ + `}}}
components: {schemas: {E: {enum: [{$ref: "#/components/schemas/E"}]}}}
`, func(t *testing.T, a *API) {
			want := `{"type":"object","properties":{"enum":{"$ref":"#/definitions/E"}},"default":{"$ref":"#/components/schemas/E"},
				"definitions":{"E":{"enum":[{"$ref":"#/components/schemas/E"}]}}}`
			if !sameJSON(t, a.Models["make_thingBody"], []byte(want)) {
				t.Errorf("models %s", mustJSON(t, a.Models))
			}
		}},
		{"listed models without an operation", head + `x-portico-models: [Spare]
paths: {/a: {get: {` + integ + `}}}
components: {schemas: {Spare: {type: object, properties: {x: {$ref: "#/components/schemas/X"}}}, X: {type: integer}}}
`, func(t *testing.T, a *API) {
			if !sameJSON(t, a.Models["Spare"], []byte(`{"type":"object","properties":{"x":{"$ref":"#/definitions/X"}},"definitions":{"X":{"type":"integer"}}}`)) || len(a.Models) != 1 {
				t.Errorf("models %s", mustJSON(t, a.Models))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.check(t, importValid(t, tt.doc, "us-east-1"))
		})
	}
}

func TestImportAccessRejects(t *testing.T) {
	t.Parallel()
	const head = "openapi: 3.0.3\ninfo: {title: t}\n"
	const integ = "x-amazon-apigateway-integration: {type: mock}"
	op := func(extra string) string {
		return head + "paths: {/x: {get: {" + extra + integ + "}}}\n"
	}
	scheme := func(name, body string) string {
		return op("security: [{"+name+": []}], ") + "components: {securitySchemes: {" + name + ": " + body + "}}\n"
	}
	const authz = "x-amazon-apigateway-authorizer"
	tests := []struct {
		name, doc, field, fragment string
	}{
		{"bearer without an authorizer", scheme("bearer", "{type: http, scheme: bearer, bearerFormat: JWT}"),
			"components.securitySchemes.bearer", "needs " + authz},
		{"basic auth", scheme("basic", "{type: http, scheme: basic}"), "components.securitySchemes.basic", `http "basic" authentication is not supported`},
		{"oauth2 without an authorizer", scheme("oauth", "{type: oauth2, flows: {implicit: {authorizationUrl: 'https://id.example.com/auth', scopes: {}}}}"),
			"components.securitySchemes.oauth", "an oauth2 scheme needs " + authz},
		{"openIdConnect without an authorizer", scheme("oidc", "{type: openIdConnect, openIdConnectUrl: 'https://id.example.com/.well-known/openid-configuration'}"),
			"components.securitySchemes.oidc", "an openIdConnect scheme needs " + authz},
		{"api key in the query", scheme("key", "{type: apiKey, in: query, name: api_key}"),
			"components.securitySchemes.key", "Portico reads API keys from the x-api-key header"},
		{"api key in another header", scheme("key", "{type: apiKey, in: header, name: X-Key}"),
			"components.securitySchemes.key", `header "X-Key" is not supported`},
		{"lambda authorizer", scheme("auth", "{type: apiKey, in: header, name: Authorization, "+authz+": {type: token, authorizerUri: 'arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:f/invocations'}}"),
			"components.securitySchemes.auth." + authz + ".authorizerUri", "set x-portico-authorizer-url"},
		{"authorizer without a uri", scheme("auth", "{type: apiKey, in: header, name: Authorization, "+authz+": {type: request, identitySource: method.request.header.A}}"),
			"components.securitySchemes.auth." + authz + ".authorizerUri", "is required"},
		{"context identity source", scheme("auth", "{type: apiKey, in: header, name: Unused, "+authz+": {type: request, authorizerUri: 'https://a.example.com', identitySource: 'method.request.header.A, context.sourceIp'}}"),
			"components.securitySchemes.auth." + authz + ".identitySource", `"context.sourceIp" is not a header or query string value`},
		{"jwt from a cookie", scheme("jwt", "{type: oauth2, flows: {}, "+authz+": {type: jwt, identitySource: $request.header.Cookie, jwtConfiguration: {issuer: 'https://i.example.com', audience: [a]}}}"),
			"components.securitySchemes.jwt." + authz + ".identitySource", "Authorization header"},
		{"jwt without configuration", scheme("jwt", "{type: oauth2, flows: {}, "+authz+": {type: jwt}}"),
			"components.securitySchemes.jwt." + authz + ".jwtConfiguration", "is required"},
		{"cognito user pools", scheme("pool", "{type: apiKey, in: header, name: Authorization, x-amazon-apigateway-authtype: cognito_user_pools, "+authz+": {type: cognito_user_pools, providerARNs: ['arn:aws:cognito-idp:us-east-1:1:userpool/us-east-1_x']}}"),
			"components.securitySchemes.pool." + authz + ".type", "use type jwt"},
		{"unknown authorizer type", scheme("auth", "{type: apiKey, in: header, name: A, "+authz+": {type: saml}}"),
			"components.securitySchemes.auth." + authz + ".type", `not "saml"`},
		{"bad ttl", scheme("auth", "{type: apiKey, in: header, name: A, "+authz+": {type: token, authorizerUri: 'https://a.example.com', authorizerResultTtlInSeconds: soon}}"),
			"components.securitySchemes.auth." + authz + ".authorizerResultTtlInSeconds", "invalid number"},
		{"unknown x-portico-authorizer field", scheme("auth", "{type: apiKey, in: header, name: A, x-portico-authorizer: {ttl: 5s}, "+authz+": {type: token, authorizerUri: 'https://a.example.com'}}"),
			"components.securitySchemes.auth.x-portico-authorizer.ttl", "unknown field"},
		{"unknown scheme", op("security: [{nope: []}], "), "paths./x.get.security[0].nope", "no security scheme named"},
		{"alternatives", op("security: [{a: []}, {}], ") + "components: {securitySchemes: {a: {type: apiKey, in: header, name: x-api-key}}}\n",
			"paths./x.get.security", "lists 2 alternatives"},
		{"two authorizers", op("security: [{a: [], b: []}], ") + `components: {securitySchemes: {
  a: {type: apiKey, in: header, name: Authorization, x-amazon-apigateway-authtype: awsSigv4},
  b: {type: apiKey, in: header, name: A, ` + authz + `: {type: token, authorizerUri: 'https://a.example.com'}}}}
`, "paths./x.get.security[0].b", `"a" and "b" both authenticate`},
		{"scopes on a custom authorizer", op("security: [{b: [read]}], ") + "components: {securitySchemes: {b: {type: apiKey, in: header, name: A, " + authz + ": {type: token, authorizerUri: 'https://a.example.com'}}}}\n",
			"paths./x.get.security[0].b", "only JWT authorizers check scopes"},
		{"scopes on an api key", op("security: [{k: [read]}], ") + "components: {securitySchemes: {k: {type: apiKey, in: header, name: x-api-key}}}\n",
			"paths./x.get.security[0].k", "takes no scopes"},
		{"iam beside a jwt", op("security: [{j: []}], x-amazon-apigateway-auth: {type: AWS_IAM}, ") +
			"components: {securitySchemes: {j: {type: oauth2, flows: {}, " + authz + ": {type: jwt, jwtConfiguration: {issuer: 'https://i.example.com', audience: [a]}}}}}\n",
			"paths./x.get.x-amazon-apigateway-auth", "conflicts with the JWT authorizer"},
		{"unknown auth type", op("x-amazon-apigateway-auth: {type: COGNITO}, "), "paths./x.get.x-amazon-apigateway-auth.type", "must be AWS_IAM or NONE"},
		{"unknown validator", op("x-amazon-apigateway-request-validator: strict, "), "paths./x.get.x-amazon-apigateway-request-validator", `no validator named "strict"`},
		{"unknown default validator", head + "x-amazon-apigateway-request-validator: all\npaths: {/x: {get: {" + integ + "}}}\n",
			"x-amazon-apigateway-request-validator", `no validator named "all"`},
		{"validators not an object", head + "x-amazon-apigateway-request-validators: [all]\npaths: {/x: {get: {" + integ + "}}}\n",
			"x-amazon-apigateway-request-validators", "must be an object"},
		{"key source from an authorizer", head + "x-amazon-apigateway-api-key-source: AUTHORIZER\npaths: {/x: {get: {" + integ + "}}}\n",
			"x-amazon-apigateway-api-key-source", "not supported"},
		{"any-method body of a missing schema", head + "paths: {/x: {x-amazon-apigateway-any-method: {requestBody: {content: {application/json: {schema: {$ref: '#/components/schemas/Nope'}}}}, " + integ + "}}}\n",
			"paths./x.x-amazon-apigateway-any-method.requestBody.content.application/json.schema", `no schema "Nope"`},
		{"any-method parameter of a missing reference", head + "x-amazon-apigateway-request-validator: v\nx-amazon-apigateway-request-validators: {v: {validateRequestParameters: true}}\npaths: {/x: {x-amazon-apigateway-any-method: {parameters: [{$ref: '#/components/parameters/Nope'}], " + integ + "}}}\n",
			"paths./x.x-amazon-apigateway-any-method.parameters[0].$ref", "is not a parameter"},
		{"schema names that clash", head + "paths: {/x: {post: {requestBody: {content: {application/json: {schema: {$ref: '#/components/schemas/a-b'}}, text/plain: {schema: {$ref: '#/components/schemas/a.b'}}}}, " + integ + "}}}\ncomponents: {schemas: {a-b: {type: object}, a.b: {type: string}}}\n",
			"paths./x.post.requestBody.content.text/plain.schema", `would be model "a_b"`},
		{"unknown listed model", head + "x-portico-models: [Nope]\npaths: {/x: {get: {" + integ + "}}}\n", "x-portico-models[0]", `no schema "Nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := ImportOpenAPI([]byte(tt.doc))
			if err == nil {
				t.Fatalf("ImportOpenAPI accepted it: %s", mustJSON(t, a))
			}
			wantFieldError(t, err, tt.field, tt.fragment)
		})
	}
}

// accessRESTYAML and accessHTTPYAML use every access setting an export
// must keep.
const accessRESTYAML = `
name: secured
kind: REST
authorizers:
- name: api_key
  type: REQUEST
  uri: https://auth.example.com/request
  identity_sources: [header.X-Tenant, query.session]
  ttl: 90s
  timeout: 3s
  context_to_headers: {tenant: X-Tenant-Id}
- name: tok
  type: TOKEN
  uri: http://auth.example.com/token
- name: tok2
  type: TOKEN
  uri: http://auth.example.com/token
  identity_sources: [header.X-Token]
  ttl: 0s
models:
  Pet:
    type: object
    properties:
      owner: {$ref: "#/definitions/Owner"}
      tags: {type: array, items: {$ref: "#/definitions/Tag"}}
    definitions:
      Owner: {type: object, properties: {name: {type: string}, friend: {$ref: "#"}}}
      Tag: {type: string, enum: [a, b]}
  Tag:
    type: string
    enum: [a, b]
  Unused:
    type: object
    properties:
      at: {$ref: "#/properties/id"}
      id: {type: integer, minimum: 0, exclusiveMinimum: true}
resources:
- path: /pets
  methods:
    GET:
      integration: {type: HTTP_PROXY, uri: "https://backend.example.com/pets"}
      api_key_required: true
      authorization: CUSTOM
      authorizer: api_key
      validation:
        parameters: true
        required_query: [limit, page]
        required_headers: [X-Request-Id]
    POST:
      integration: {type: HTTP_PROXY, uri: "https://backend.example.com/pets"}
      authorization: CUSTOM
      authorizer: tok
      validation:
        parameters: true
        body: true
        models: {application/json: Pet, $default: Tag}
- path: /pets/{id}
  methods:
    PUT:
      integration: {type: HTTP_PROXY, uri: "https://backend.example.com/pets/{id}"}
      authorization: AWS_IAM
      api_key_required: true
      validation:
        body: true
        models: {application/json: Tag}
    PATCH:
      integration: {type: HTTP_PROXY, uri: "https://backend.example.com/pets/{id}"}
      authorization: CUSTOM
      authorizer: tok2
      validation:
        models: {application/json: Pet}
    DELETE:
      integration: {type: MOCK, status_code: 204}
`

const accessHTTPYAML = `
name: orders
kind: HTTP
authorizers:
- name: sigv4
  type: JWT
  issuer: https://id.example.com/
  audiences: [orders, admin]
  jwks_uri: https://id.example.com/oauth2/v1/keys
  algorithms: [RS256, EdDSA]
  claims_to_headers: {sub: X-User}
- name: lambda
  type: REQUEST
  uri: https://auth.example.com/
  identity_sources: [header.Cookie]
routes:
- key: GET /orders
  integration: {type: HTTP_PROXY, uri: "https://orders.example.com/orders"}
  authorization: JWT
  authorizer: sigv4
  authorization_scopes: [orders/read, orders/admin]
- key: POST /orders
  integration: {type: HTTP_PROXY, uri: "https://orders.example.com/orders"}
  authorization: JWT
  authorizer: sigv4
  validation:
    parameters: true
- key: ANY /admin/{proxy+}
  integration: {type: HTTP_PROXY, uri: "https://admin.example.com/{proxy}"}
  authorization: AWS_IAM
- key: $default
  integration: {type: HTTP_PROXY, uri: "https://fallback.example.com"}
  authorization: CUSTOM
  authorizer: lambda
  api_key_required: true
`

func TestOpenAPIAccessRoundTrip(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{"rest": accessRESTYAML, "http": accessHTTPYAML} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := mustAPI(t, doc)
			a.ID = "a1b2c3d4e5"
			if err := a.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			out, err := ExportOpenAPI(&Deployment{ID: "dep1", APIID: a.ID, API: *a}, &Stage{Name: "prod"}, "https://x.example.com")
			if err != nil {
				t.Fatalf("ExportOpenAPI: %v", err)
			}
			b := importValid(t, string(out), "elsewhere-1")
			b.ID = a.ID
			// Models compare as JSON values: an export rewrites their text.
			if len(a.Models) != len(b.Models) {
				t.Errorf("models %v, want %v\n%s", keys(b.Models), keys(a.Models), out)
			}
			for m := range a.Models {
				if !sameJSON(t, a.Models[m], b.Models[m]) {
					t.Errorf("model %s\nbefore: %s\n after: %s\ndocument:\n%s", m, a.Models[m], b.Models[m], out)
				}
			}
			a.Models, b.Models = nil, nil
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("round trip differs\nbefore: %s\n after: %s\ndocument:\n%s", mustJSON(t, a), mustJSON(t, b), out)
			}
			loaded, err := openapi3.NewLoader().LoadFromData(out)
			if err != nil {
				t.Fatalf("kin loader: %v", err)
			}
			if err := kinValidate(loaded); err != nil {
				t.Fatalf("kin validation: %v\n%s", err, out)
			}
		})
	}
}

func TestExportAccessShape(t *testing.T) {
	t.Parallel()
	a := mustAPI(t, accessRESTYAML)
	// A definition named like a different schema is renamed when lifted
	// (so this one would not come back under its own name).
	a.Models["Other"] = json.RawMessage(`{"type":"object","properties":{"tag":{"$ref":"#/definitions/Tag"}},"definitions":{"Tag":{"type":"integer"}}}`)
	out, err := ExportOpenAPI(&Deployment{ID: "dep1", API: *a}, nil, "https://x.example.com")
	if err != nil {
		t.Fatalf("ExportOpenAPI: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	const auth = "components.securitySchemes.api_key.x-amazon-apigateway-authorizer"
	checks := []struct {
		path string
		want any
	}{
		// An authorizer named api_key pushes the key scheme aside.
		{"components.securitySchemes.api_key_2", map[string]any{"type": "apiKey", "name": "x-api-key", "in": "header"}},
		{"components.securitySchemes.sigv4.x-amazon-apigateway-authtype", "awsSigv4"},
		{"components.securitySchemes.api_key.type", "apiKey"},
		{"components.securitySchemes.api_key.x-amazon-apigateway-authtype", "custom"},
		{auth + ".type", "request"},
		{auth + ".authorizerUri", "https://auth.example.com/request"},
		{auth + ".identitySource", "method.request.header.X-Tenant, method.request.querystring.session"},
		{auth + ".authorizerResultTtlInSeconds", 90.0},
		{"components.securitySchemes.api_key.x-portico-authorizer", map[string]any{"timeout": "3s", "context_to_headers": map[string]any{"tenant": "X-Tenant-Id"}}},
		{"components.securitySchemes.tok.name", "Authorization"},
		{"components.securitySchemes.tok2.name", "X-Token"},
		{"components.securitySchemes.tok2.x-amazon-apigateway-authorizer.authorizerResultTtlInSeconds", 0.0},
		{"paths./pets.get.security", []any{map[string]any{"api_key": []any{}, "api_key_2": []any{}}}},
		{"paths./pets.get.x-amazon-apigateway-request-validator", "params-only"},
		{"paths./pets.get.parameters.0", map[string]any{"name": "limit", "in": "query", "required": true, "schema": map[string]any{"type": "string"}}},
		{"paths./pets.get.parameters.2.in", "header"},
		{"paths./pets.post.x-amazon-apigateway-request-validator", "all"},
		{"paths./pets.post.requestBody.content.application/json.schema", map[string]any{"$ref": "#/components/schemas/Pet"}},
		{"paths./pets.post.requestBody.content.*/*.schema", map[string]any{"$ref": "#/components/schemas/Tag"}},
		{"paths./pets/{id}.put.x-amazon-apigateway-request-validator", "body-only"},
		{"paths./pets/{id}.put.security", []any{map[string]any{"api_key_2": []any{}, "sigv4": []any{}}}},
		{"paths./pets/{id}.patch.x-amazon-apigateway-request-validator", nil},
		{"paths./pets/{id}.delete.security", nil},
		{"x-amazon-apigateway-request-validators", map[string]any{
			"all":         map[string]any{"validateRequestBody": true, "validateRequestParameters": true},
			"params-only": map[string]any{"validateRequestBody": false, "validateRequestParameters": true},
			"body-only":   map[string]any{"validateRequestBody": true, "validateRequestParameters": false},
		}},
		{"x-portico-models", []any{"Other", "Unused"}},
		// Definitions are lifted beside the model; a clash renames them.
		{"components.schemas.Pet.properties.owner", map[string]any{"$ref": "#/components/schemas/Owner"}},
		{"components.schemas.Pet.definitions", nil},
		{"components.schemas.Owner.properties.friend", map[string]any{"$ref": "#/components/schemas/Pet"}},
		{"components.schemas.Other.properties.tag", map[string]any{"$ref": "#/components/schemas/Other_Tag"}},
		{"components.schemas.Other_Tag", map[string]any{"type": "integer"}},
		{"components.schemas.Unused.properties.at", map[string]any{"$ref": "#/components/schemas/Unused/properties/id"}},
	}
	for _, c := range checks {
		if got := lookup(doc, c.path); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.path, got, c.want)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Errorf("not JSON: %v: %s", err, a)
		return false
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("test JSON: %v: %s", err, b)
	}
	return reflect.DeepEqual(x, y)
}
