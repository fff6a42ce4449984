package configs

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// apiGatewayExport is shaped like Amazon API Gateway's OpenAPI 3.0 export
// of a REST API (Export → OpenAPI 3 + API Gateway extensions), including
// the parts Portico ignores: request parameters, models, CORS mocks.
const apiGatewayExport = `openapi: "3.0.1"
info:
  title: "PetStore"
  description: "Your first API with Amazon API Gateway."
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
      - name: "type"
        in: "query"
        schema:
          type: "string"
      responses:
        "200":
          description: "200 response"
          headers:
            Access-Control-Allow-Origin:
              schema:
                type: "string"
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/Pets"
      x-amazon-apigateway-integration:
        httpMethod: "GET"
        uri: "http://petstore.execute-api.us-east-1.amazonaws.com/petstore/pets"
        responses:
          default:
            statusCode: "200"
            responseParameters:
              method.response.header.Access-Control-Allow-Origin: "'*'"
        requestParameters:
          integration.request.querystring.type: "method.request.querystring.type"
        passthroughBehavior: "when_no_match"
        timeoutInMillis: 29000
        type: "http_proxy"
    post:
      responses:
        "200":
          description: "200 response"
      x-amazon-apigateway-integration:
        httpMethod: "POST"
        uri: "http://${stageVariables.petstoreHost}/petstore/pets"
        passthroughBehavior: "when_no_match"
        timeoutInMillis: 10000
        type: "HTTP_PROXY"
    options:
      responses:
        "200":
          description: "200 response"
      x-amazon-apigateway-integration:
        responses:
          default:
            statusCode: "200"
            responseParameters:
              method.response.header.Access-Control-Allow-Methods: "'POST,GET,OPTIONS'"
              method.response.header.Access-Control-Allow-Headers: "'Content-Type,Authorization'"
              method.response.header.Access-Control-Allow-Origin: "'*'"
              method.response.header.X-Request-Id: "context.requestId"
        requestTemplates:
          application/json: "{\"statusCode\": 200}"
        passthroughBehavior: "when_no_match"
        type: "mock"
  /pets/{petId}:
    get:
      parameters:
      - name: "petId"
        in: "path"
        required: true
        schema:
          type: "string"
      responses:
        "200":
          description: "200 response"
      x-amazon-apigateway-integration:
        httpMethod: "GET"
        uri: "http://petstore.execute-api.us-east-1.amazonaws.com/petstore/pets/{petId}"
        requestParameters:
          integration.request.path.petId: "method.request.path.petId"
        passthroughBehavior: "when_no_match"
        timeoutInMillis: 5000
        type: "http_proxy"
  /health:
    get:
      responses:
        "204":
          description: "204 response"
      x-amazon-apigateway-integration:
        requestTemplates:
          application/json: "{\"statusCode\": 204}"
        responses:
          default:
            statusCode: "204"
        type: "mock"
  /version:
    get:
      responses:
        "200":
          description: "200 response"
      x-amazon-apigateway-integration:
        type: "mock"
        responses:
          default:
            statusCode: "200"
            responseTemplates:
              application/json: "{\"version\": \"1\"}"
        x-portico-mock:
          headers:
            Content-Type: "application/json"
  /{proxy+}:
    x-amazon-apigateway-any-method:
      parameters:
      - name: "proxy"
        in: "path"
        required: true
        schema:
          type: "string"
      x-amazon-apigateway-integration:
        uri: "https://legacy.example.com/{proxy}"
        httpMethod: "ANY"
        type: "http_proxy"
        cacheNamespace: "abc123"
        cacheKeyParameters:
        - "method.request.path.proxy"
        requestParameters:
          integration.request.path.proxy: "method.request.path.proxy"
components:
  schemas:
    Pets:
      type: "array"
      items:
        $ref: "#/components/schemas/Pet"
    Pet:
      type: "object"
      properties:
        id:
          type: "integer"
        type:
          type: "string"
x-amazon-apigateway-endpoint-configuration:
  types:
  - "EDGE"
`

// httpAPIGatewayExport is shaped like API Gateway's export of an HTTP API.
const httpAPIGatewayExport = `{
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
    "/orders/{id}" : {
      "get" : {
        "responses" : { "default" : { "description" : "Default response for GET /orders/{id}" } },
        "x-amazon-apigateway-integration" : {
          "payloadFormatVersion" : "1.0",
          "type" : "http_proxy",
          "httpMethod" : "ANY",
          "uri" : "https://orders.example.com/orders/{id}",
          "connectionType" : "INTERNET",
          "timeoutInMillis" : 15000
        }
      },
      "parameters" : [ {
        "name" : "id",
        "in" : "path",
        "description" : "Generated path parameter for id",
        "required" : true,
        "schema" : { "type" : "string" }
      } ]
    },
    "/$default" : {
      "x-amazon-apigateway-any-method" : {
        "isDefaultRoute" : true,
        "x-amazon-apigateway-integration" : {
          "payloadFormatVersion" : "1.0",
          "type" : "http_proxy",
          "httpMethod" : "ANY",
          "uri" : "https://fallback.example.com",
          "connectionType" : "INTERNET"
        }
      }
    }
  },
  "x-amazon-apigateway-cors" : {
    "allowMethods" : [ "GET", "POST" ],
    "allowHeaders" : [ "content-type" ],
    "maxAge" : 300,
    "allowCredentials" : false,
    "allowOrigins" : [ "https://app.example.com" ]
  },
  "x-amazon-apigateway-importexport-version" : "1.0"
}`

func proxy(uri, method string, timeout time.Duration) Integration {
	return Integration{Type: IntegrationHTTPProxy, URI: uri, Method: method, Timeout: Duration(timeout)}
}

func TestImportAPIGatewayRESTExport(t *testing.T) {
	t.Parallel()
	got, err := ImportOpenAPI([]byte(apiGatewayExport))
	if err != nil {
		t.Fatalf("ImportOpenAPI: %v", err)
	}
	got.ApplyDefaults("us-east-1")
	if err := got.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	const pets = "http://petstore.execute-api.us-east-1.amazonaws.com/petstore/pets"
	want := &API{
		Name:          "PetStore",
		Kind:          KindREST,
		EndpointTypes: []EndpointType{EndpointEdge},
		HomeRegion:    "us-east-1",
		Description:   "Your first API with Amazon API Gateway.",
		// In the order of the document's paths.
		Resources: []Resource{
			{Path: "/pets", Methods: map[string]Method{
				"GET":  {Integration: proxy(pets, "GET", 29*time.Second)},
				"POST": {Integration: proxy("http://${stageVariables.petstoreHost}/petstore/pets", "POST", 10*time.Second)},
				"OPTIONS": {Integration: Integration{Type: IntegrationMock, StatusCode: 200, Headers: map[string]string{
					"Access-Control-Allow-Methods": "POST,GET,OPTIONS",
					"Access-Control-Allow-Headers": "Content-Type,Authorization",
					"Access-Control-Allow-Origin":  "*",
				}}},
			}},
			{Path: "/pets/{petId}", Methods: map[string]Method{
				"GET": {Integration: proxy(pets+"/{petId}", "GET", 5*time.Second)},
			}},
			{Path: "/health", Methods: map[string]Method{
				"GET": {Integration: Integration{Type: IntegrationMock, StatusCode: 204}},
			}},
			{Path: "/version", Methods: map[string]Method{
				"GET": {Integration: Integration{Type: IntegrationMock, StatusCode: 200,
					Headers: map[string]string{"Content-Type": "application/json"}, Body: `{"version": "1"}`}},
			}},
			{Path: "/{proxy+}", Methods: map[string]Method{
				"ANY": {Integration: proxy("https://legacy.example.com/{proxy}", "", DefaultIntegrationTimeout)},
			}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("imported API differs\n got: %s\nwant: %s", mustJSON(t, got), mustJSON(t, want))
	}
}

func TestImportAPIGatewayHTTPExport(t *testing.T) {
	t.Parallel()
	got, err := ImportOpenAPI([]byte(httpAPIGatewayExport))
	if err != nil {
		t.Fatalf("ImportOpenAPI: %v", err)
	}
	got.ApplyDefaults("eu-west-1")
	if err := got.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := &API{
		Name:          "orders",
		Kind:          KindHTTP,
		EndpointTypes: []EndpointType{EndpointRegional},
		HomeRegion:    "eu-west-1",
		CORS: &CORS{
			AllowOrigins: []string{"https://app.example.com"},
			AllowMethods: []string{"GET", "POST"},
			AllowHeaders: []string{"content-type"},
			MaxAge:       Duration(300 * time.Second),
		},
		Routes: []Route{
			{Key: "GET /orders/{id}", Integration: proxy("https://orders.example.com/orders/{id}", "", 15*time.Second)},
			{Key: DefaultRouteKey, Integration: proxy("https://fallback.example.com", "", DefaultIntegrationTimeout)},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("imported API differs\n got: %s\nwant: %s", mustJSON(t, got), mustJSON(t, want))
	}
}

func TestImportKeepsYAMLDocumentOrder(t *testing.T) {
	t.Parallel()
	doc := `openapi: 3.0.3
info: {title: order}
x-portico-kind: HTTP
paths:
  /z:
    put: {x-amazon-apigateway-integration: {type: mock}}
    get: {x-amazon-apigateway-integration: {type: mock}}
  /a:
    post: {x-amazon-apigateway-integration: {type: mock}}
`
	a, err := ImportOpenAPI([]byte(doc))
	if err != nil {
		t.Fatalf("ImportOpenAPI: %v", err)
	}
	var keys []string
	for _, r := range a.Routes {
		keys = append(keys, r.Key)
	}
	if want := []string{"PUT /z", "GET /z", "POST /a"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("route order %v, want %v", keys, want)
	}
}

func TestImportOpenAPIRejectsMalformed(t *testing.T) {
	t.Parallel()
	const head = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n"
	const mock = "{x-amazon-apigateway-integration: {type: mock}}"
	tests := []struct {
		name     string
		doc      string
		field    string // "-": not a *ValidationError, only the message is checked
		fragment string
	}{
		{"not yaml or json", "openapi: [3.0\n", "-", "not valid YAML or JSON"},
		{"empty", "", "-", "empty"},
		{"a list", "- openapi\n", "document", "must be an object"},
		{"swagger 2.0", "swagger: '2.0'\ninfo: {title: t}\npaths: {}\n", "swagger", "swagger 2.0 documents are not supported"},
		{"openapi 3.1", "openapi: 3.1.0\ninfo: {title: t}\npaths: {}\n", "openapi", `version "3.1.0" is not supported`},
		{"version as a number", "openapi: 3.0\ninfo: {title: t}\npaths: {}\n", "openapi", "must be a version string"},
		{"missing openapi", "info: {title: t}\npaths: {}\n", "openapi", "is required"},
		{"missing info", "openapi: 3.0.3\npaths: {}\n", "info", "is required"},
		{"missing paths", "openapi: 3.0.3\ninfo: {title: t}\n", "paths", "is required"},
		{"info not an object", "openapi: 3.0.3\ninfo: pets\npaths: {}\n", "info", "must be an object"},
		{"missing title", "openapi: 3.0.3\ninfo: {version: '1'}\npaths: {}\n", "info.title", "is required"},
		{"paths a list", head + "paths: [/a]\n", "paths", "must be an object"},
		{"path without slash", head + "paths: {items: {get: " + mock + "}}\n", "paths.items", "must start with /"},
		{"path item a string", head + "paths: {/a: get}\n", "paths./a", "must be an object"},
		{"operation a string", head + "paths: {/a: {get: fetch}}\n", "paths./a.get", "must be an object"},
		{"no integration", head + "paths:\n  /x:\n    get: {responses: {'200': {description: OK}}}\n",
			"paths./x.get.x-amazon-apigateway-integration", "is required"},
		{"no integration on any method", head + "paths: {/x: {x-amazon-apigateway-any-method: {}}}\n",
			"paths./x.x-amazon-apigateway-any-method.x-amazon-apigateway-integration", "is required"},
		{"lambda integration", head + "paths: {/x: {get: {x-amazon-apigateway-integration: {type: aws_proxy, uri: 'arn:aws:lambda'}}}}\n",
			"paths./x.get.x-amazon-apigateway-integration.type", "only http_proxy and mock are"},
		{"integration without type", head + "paths: {/x: {get: {x-amazon-apigateway-integration: {uri: 'https://b.example.com'}}}}\n",
			"paths./x.get.x-amazon-apigateway-integration.type", "is required"},
		{"integration a string", head + "paths: {/x: {get: {x-amazon-apigateway-integration: http_proxy}}}\n",
			"paths./x.get.x-amazon-apigateway-integration", "must be an object, not string"},
		{"timeout not a number", head + "paths: {/x: {get: {x-amazon-apigateway-integration: {type: http_proxy, uri: 'https://b.example.com', timeoutInMillis: soon}}}}\n",
			"paths./x.get.x-amazon-apigateway-integration.timeoutInMillis", "invalid number"},
		{"mock status not a number", head + "paths: {/x: {get: {x-amazon-apigateway-integration: {type: mock, responses: {default: {statusCode: ok}}}}}}\n",
			"paths./x.get.x-amazon-apigateway-integration.responses.default.statusCode", "must be a status code"},
		{"unknown x-portico-mock field", head + "paths: {/x: {get: {x-amazon-apigateway-integration: {type: mock, x-portico-mock: {status: 201}}}}}\n",
			"paths./x.get.x-amazon-apigateway-integration.x-portico-mock.status", "unknown field"},
		{"trace", head + "paths: {/x: {trace: " + mock + "}}\n", "paths./x.trace", "unsupported method TRACE"},
		{"unknown kind", head + "x-portico-kind: SOAP\npaths: {/x: {get: " + mock + "}}\n", "x-portico-kind", `must be REST or HTTP, not "SOAP"`},
		{"endpoint types not a list", head + "x-portico-endpoint-types: EDGE\npaths: {/x: {get: " + mock + "}}\n",
			"x-portico-endpoint-types", "must be a list, not string"},
		{"cors max age not a number", head + "x-amazon-apigateway-cors: {maxAge: long}\npaths: {/x: {get: " + mock + "}}\n",
			"x-amazon-apigateway-cors.maxAge", "invalid number"},
		{"dangling reference", head + "paths: {/x: {get: {x-amazon-apigateway-integration: {type: mock}, responses: {'200': {$ref: '#/components/responses/Nope'}}}}}\n",
			"", "not a valid OpenAPI 3.0 document"},
		{"external reference", head + "paths: {/x: {get: {x-amazon-apigateway-integration: {type: mock}, responses: {'200': {$ref: 'http://169.254.169.254/latest'}}}}}\n",
			"", "external reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := ImportOpenAPI([]byte(tt.doc))
			if err == nil {
				t.Fatalf("ImportOpenAPI accepted it: %s", mustJSON(t, a))
			}
			if tt.field == "-" {
				if !strings.Contains(err.Error(), tt.fragment) {
					t.Fatalf("error %q does not contain %q", err, tt.fragment)
				}
				return
			}
			wantFieldError(t, err, tt.field, tt.fragment)
		})
	}
}

func TestImportOpenAPIDoesNotValidate(t *testing.T) {
	t.Parallel()
	// Problems of the API itself are Validate's to report, after defaults.
	doc := "openapi: 3.0.3\ninfo: {title: t}\npaths: {/a//b: {get: {x-amazon-apigateway-integration: {type: http_proxy, uri: relative, timeoutInMillis: 10}}}}\n"
	a, err := ImportOpenAPI([]byte(doc))
	if err != nil {
		t.Fatalf("ImportOpenAPI: %v", err)
	}
	if a.Kind != "" || a.HomeRegion != "" || a.EndpointTypes != nil {
		t.Errorf("defaults applied: %+v", a)
	}
	a.ApplyDefaults("us-east-1")
	err = a.Validate()
	wantFieldError(t, err, "resources[0].path", "empty path segment")
}
