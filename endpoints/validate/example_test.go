package validate_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/portico-gw/portico/endpoints/validate"
)

func Example() {
	v, err := validate.Compile(validate.Spec{
		RequiredQuery:  []string{"dryRun"},
		ValidateParams: true,
		ValidateBody:   true,
		Models: map[string]validate.Model{
			"application/json": {Name: "Order", Schema: json.RawMessage(`{
				"type": "object",
				"required": ["sku", "quantity"],
				"properties": {
					"sku":      {"type": "string"},
					"quantity": {"type": "integer", "minimum": 1}
				}
			}`)},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, tc := range []struct{ target, body string }{
		{"/orders", `{"sku":"A-1","quantity":2}`},
		{"/orders?dryRun=true", `{"sku":"A-1","quantity":0}`},
		{"/orders?dryRun=true", `{"sku":"A-1","quantity":2}`},
	} {
		r := httptest.NewRequest("POST", tc.target, strings.NewReader(tc.body))
		r.Header.Set("Content-Type", "application/json")
		body, f := v.Check(r, nil)
		if f != nil {
			fmt.Printf("400 %s: %s\n", f.Kind, f.Message)
			continue
		}
		fmt.Printf("forward %s\n", body)
	}
	// Output:
	// 400 BAD_REQUEST_PARAMETERS: Missing required request parameters: [dryRun]
	// 400 BAD_REQUEST_BODY: Invalid request body: /quantity: minimum: got 0, want 1
	// forward {"sku":"A-1","quantity":2}
}
