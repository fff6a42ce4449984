package limit

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestWireJSON pins the short field names the node layer sends.
func TestWireJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    any
		json string
	}{
		{"request", &LeaseRequest{Node: "n1", Items: []LeaseItem{
			{Key: "k1", Spec: RateSpec(100, 200), Want: 12, Used: 3},
			{Key: "key/plan", Spec: QuotaSpec(1000, Month, 2), Want: 5, Used: 7, Acked: 40, Win: 1706745600},
		}}, `{"n":"n1","i":[{"k":"k1","s":{"r":100,"b":200},"w":12,"u":3},` +
			`{"k":"key/plan","s":{"l":1000,"p":"MONTH","o":2},"w":5,"u":7,"a":40,"ws":1706745600}]}`},
		{"heartbeat", &LeaseRequest{Node: "n1"}, `{"n":"n1"}`},
		{"response", &LeaseResponse{Items: []LeaseGrant{
			{Grant: 12, TTL: 1000},
			{Grant: 0, TTL: 1000, Win: 1706745600, Reset: 5000, Exhausted: true},
			{Err: "empty key"},
		}}, `{"i":[{"g":12,"t":1000},{"t":1000,"ws":1706745600,"re":5000,"x":true},{"e":"empty key"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.json {
				t.Fatalf("got  %s\nwant %s", b, tc.json)
			}
			back := reflect.New(reflect.TypeOf(tc.v).Elem()).Interface()
			if err := json.Unmarshal(b, back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.v) {
				t.Fatalf("round trip: %+v, want %+v", back, tc.v)
			}
		})
	}
}
