package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/daprshop/daprshop/internal/launcher"
)

// scrapeStateOps sums dapr_component_state_count of every app's sidecar,
// by app, component and operation (successful ones). The six Go apps: the
// checkout's path and its notification. recommendations (the TypeScript
// app, a later consumer of order.completed) is not counted here: it adds
// one bulk read and one transaction per completed order on its own store,
// which the report does not show yet.
func scrapeStateOps(ctx context.Context, sys *launcher.System) (map[string]float64, error) {
	out := map[string]float64{}
	for _, id := range []string{"gateway", "users", "catalog", "orders", "payments", "notifications"} {
		a, _ := sys.App(id)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", a.MetricsPort), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "dapr_component_state_count{") && !strings.HasPrefix(line, "dapr_component_transaction_count{") {
				continue
			}
			labels := line[strings.IndexByte(line, '{')+1 : strings.LastIndexByte(line, '}')]
			if !strings.Contains(labels, `success="true"`) {
				continue
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(line[strings.LastIndexByte(line, '}')+1:]), 64)
			if err != nil {
				continue
			}
			component, op := label(labels, "component"), label(labels, "operation")
			if strings.HasPrefix(line, "dapr_component_transaction_count") {
				op = "transaction"
			}
			out[id+"|"+component+"|"+op] += v
		}
		resp.Body.Close()
	}
	return out, nil
}

func label(labels, name string) string {
	i := strings.Index(labels, name+`="`)
	if i < 0 {
		return ""
	}
	rest := labels[i+len(name)+2:]
	return rest[:strings.IndexByte(rest, '"')]
}
