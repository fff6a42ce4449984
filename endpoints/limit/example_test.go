package limit_test

import (
	"fmt"
	"time"

	"github.com/portico-gw/portico/endpoints/limit"
)

func ExampleWindow() {
	at := time.Date(2024, 3, 2, 15, 0, 0, 0, time.UTC)
	// A monthly quota with offset 2 runs from the 3rd to the 3rd.
	start, end := limit.Window(at, limit.Month, 2)
	fmt.Println(start.Format(time.DateOnly), end.Format(time.DateOnly))
	// A weekly quota with offset 1 starts on Mondays.
	start, end = limit.Window(at, limit.Week, 1)
	fmt.Println(start.Format(time.DateOnly), end.Format(time.DateOnly))
	// Output:
	// 2024-02-03 2024-03-03
	// 2024-02-26 2024-03-04
}

func ExampleCoordinator_Drain() {
	now := time.Date(2024, 3, 2, 15, 0, 0, 0, time.UTC)
	c, _ := limit.NewCoordinator(limit.CoordinatorConfig{})
	spec := limit.QuotaSpec(1000, limit.Day, 0)
	resp, _ := c.Grant(now, limit.LeaseRequest{Node: "node-1", Items: []limit.LeaseItem{
		{Key: "key1/plan1", Spec: spec, Want: 50},
	}})
	g := resp.Items[0]
	fmt.Println("granted", g.Grant, "for", time.Duration(g.TTL)*time.Millisecond)
	// The node used 20 and reports it with its next round.
	c.Grant(now.Add(50*time.Millisecond), limit.LeaseRequest{Node: "node-1", Items: []limit.LeaseItem{
		{Key: "key1/plan1", Spec: spec, Used: 20, Win: g.Win},
	}})
	for _, d := range c.Drain() {
		fmt.Println(d.Key, d.Day.Format(time.DateOnly), d.Delta)
	}
	// Output:
	// granted 50 for 1s
	// key1/plan1 2024-03-02 20
}
