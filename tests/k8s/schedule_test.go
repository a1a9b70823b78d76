package k8s

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// L3: with a scheduler and two nodes (kwok plays their kubelets), every
// Deployment rolls out with its injected pods, the Services' EndpointSlices
// resolve their named ports to the pods, the PodDisruptionBudgets count the
// pods healthy, the autoscalers find their targets, and `kubectl drain`
// evicts a node's pods only as far as the budgets allow.
func TestScheduledOnNodes(t *testing.T) {
	c, ctx := startWithDapr(t, Options{Nodes: true}, 12*time.Minute)
	c.MustKubectl(t, ctx, "", "apply", "--server-side", "-f", filepath.Join("tests", "k8s", "testdata", "kwok-nodes.yaml"))
	c.MustKubectl(t, ctx, "", "wait", "--for=condition=Ready", "node", "--all", "--timeout=60s")
	nodesCreated := time.Now()
	PrepareNamespace(t, ctx, c)
	c.MustKubectl(t, ctx, "", "apply", "--server-side", "-k", "deploy/k8s/overlays/redis")

	deployments := strings.Fields(c.MustKubectl(t, ctx, "", "-n", "daprshop", "get", "deployments", "-o", "jsonpath={.items[*].metadata.name}"))
	require.Len(t, deployments, len(Apps))
	t.Run("every Deployment rolls out", func(t *testing.T) {
		for _, d := range deployments {
			c.MustKubectl(t, ctx, "", "-n", "daprshop", "rollout", "status", "deployment/"+d, "--timeout=3m")
		}
		// The autoscalers raise their apps to two replicas (minReplicas),
		// after the first rollout.
		require.NoError(t, poll(ctx, 2*time.Minute, func() error {
			out, _, err := c.Kubectl(ctx, "", "-n", "daprshop", "get", "deployments", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.readyReplicas}{" "}{end}`)
			if err != nil {
				return err
			}
			for _, f := range strings.Fields(out) {
				if name, n, _ := strings.Cut(f, "="); n == "" || n == "0" || n == "1" {
					return fmt.Errorf("%s has %q ready replicas, want 2 at least", name, n)
				}
			}
			return nil
		}))
		// Every pod is injected, and spread over both nodes.
		var pods struct {
			Items []struct {
				Spec struct {
					NodeName   string      `json:"nodeName"`
					Containers []container `json:"containers"`
				} `json:"spec"`
			} `json:"items"`
		}
		out := c.MustKubectl(t, ctx, "", "-n", "daprshop", "get", "pods", "-l", "app.kubernetes.io/part-of=daprshop", "-o", "json")
		require.NoError(t, json.Unmarshal([]byte(out), &pods))
		nodes := map[string]int{}
		for _, p := range pods.Items {
			nodes[p.Spec.NodeName]++
			assert.True(t, hasContainer(p.Spec.Containers, "daprd"), "every running pod has its daprd")
		}
		assert.GreaterOrEqual(t, len(pods.Items), 14, "two replicas of each of seven apps at least")
		assert.Len(t, nodes, 2, "the pods are spread over both nodes: %v", nodes)
	})

	t.Run("EndpointSlices resolve the named ports", func(t *testing.T) {
		var slices struct {
			Items []struct {
				Metadata struct {
					Name   string            `json:"name"`
					Labels map[string]string `json:"labels"`
				} `json:"metadata"`
				Endpoints []struct {
					Addresses  []string `json:"addresses"`
					Conditions struct {
						Ready *bool `json:"ready"`
					} `json:"conditions"`
				} `json:"endpoints"`
				Ports []struct {
					Name *string `json:"name"`
					Port *int    `json:"port"`
				} `json:"ports"`
			} `json:"items"`
		}
		err := poll(ctx, time.Minute, func() error {
			out, _, err := c.Kubectl(ctx, "", "-n", "daprshop", "get", "endpointslices", "-o", "json")
			if err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(out), &slices); err != nil {
				return err
			}
			services := strings.Fields(c.MustKubectl(t, ctx, "", "-n", "daprshop", "get", "services", "-o", "jsonpath={.items[*].metadata.name}"))
			for _, svc := range services {
				found := false
				for _, s := range slices.Items {
					if s.Metadata.Labels["kubernetes.io/service-name"] != svc {
						continue
					}
					found = true
					ready := 0
					for _, e := range s.Endpoints {
						if e.Conditions.Ready != nil && *e.Conditions.Ready && len(e.Addresses) > 0 {
							ready++
						}
					}
					if ready < 2 {
						return fmt.Errorf("service %s: %d ready endpoints in %s", svc, ready, s.Metadata.Name)
					}
					for _, p := range s.Ports {
						if p.Port == nil || *p.Port == 0 {
							return fmt.Errorf("service %s: port %v unresolved in %s", svc, p.Name, s.Metadata.Name)
						}
					}
				}
				if !found {
					return fmt.Errorf("service %s has no EndpointSlice", svc)
				}
			}
			return nil
		})
		require.NoError(t, err)
	})

	t.Run("the budgets count the pods healthy", func(t *testing.T) {
		// Past the node lifecycle controller's grace period (50 s), so
		// that a node whose heartbeats stopped would have been marked
		// NotReady and its pods not ready, and the budgets would show it.
		for time.Since(nodesCreated) < 70*time.Second {
			c.MustKubectl(t, ctx, "", "wait", "--for=condition=Ready", "node", "--all", "--timeout=10s")
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(5 * time.Second):
			}
		}
		err := poll(ctx, time.Minute, func() error {
			out, _, err := c.Kubectl(ctx, "", "-n", "daprshop", "get", "pdb", "-o", "json")
			if err != nil {
				return err
			}
			var pdbs struct {
				Items []struct {
					Metadata struct{ Name string } `json:"metadata"`
					Status   struct {
						CurrentHealthy     int `json:"currentHealthy"`
						DesiredHealthy     int `json:"desiredHealthy"`
						DisruptionsAllowed int `json:"disruptionsAllowed"`
						ExpectedPods       int `json:"expectedPods"`
					} `json:"status"`
				} `json:"items"`
			}
			if err := json.Unmarshal([]byte(out), &pdbs); err != nil {
				return err
			}
			if len(pdbs.Items) != len(deployments) {
				return fmt.Errorf("%d budgets for %d Deployments", len(pdbs.Items), len(deployments))
			}
			for _, p := range pdbs.Items {
				s := p.Status
				if s.ExpectedPods < 2 || s.CurrentHealthy < s.DesiredHealthy || s.DisruptionsAllowed < 1 {
					return fmt.Errorf("budget %s: %+v", p.Metadata.Name, s)
				}
			}
			return nil
		})
		require.NoError(t, err)
	})

	t.Run("the autoscalers find their targets", func(t *testing.T) {
		err := poll(ctx, time.Minute, func() error {
			out, _, err := c.Kubectl(ctx, "", "-n", "daprshop", "get", "hpa", "-o", "json")
			if err != nil {
				return err
			}
			var hpas struct {
				Items []struct {
					Metadata struct{ Name string } `json:"metadata"`
					Status   struct {
						Conditions []struct{ Type, Status, Reason, Message string } `json:"conditions"`
					} `json:"status"`
				} `json:"items"`
			}
			if err := json.Unmarshal([]byte(out), &hpas); err != nil {
				return err
			}
			if len(hpas.Items) == 0 {
				return fmt.Errorf("no autoscalers")
			}
			for _, h := range hpas.Items {
				able := false
				for _, cond := range h.Status.Conditions {
					if cond.Type == "AbleToScale" && cond.Status == "True" {
						able = true
					}
				}
				if !able {
					return fmt.Errorf("autoscaler %s cannot reach its target: %+v", h.Metadata.Name, h.Status.Conditions)
				}
			}
			return nil
		})
		require.NoError(t, err)
	})

	t.Run("drain respects the budgets", func(t *testing.T) {
		// A budget that allows no disruption holds the drain: the
		// eviction API refuses, kubectl retries until its timeout.
		c.MustKubectl(t, ctx, "", "-n", "daprshop", "patch", "pdb", "orders", "--type=json",
			"-p", `[{"op":"remove","path":"/spec/minAvailable"},{"op":"add","path":"/spec/maxUnavailable","value":0}]`)
		_, stderr, err := c.Kubectl(ctx, "", "drain", "node-a", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=20s")
		require.Error(t, err, "the drain went through a budget that allows no disruption")
		assert.Contains(t, stderr, "Cannot evict pod as it would violate the pod's disruption budget")
		assert.Contains(t, stderr, "orders-")

		// With the overlay's budget back, the drain finishes, one eviction
		// at a time as the budgets allow, and every app rolls out again on
		// the other node.
		c.MustKubectl(t, ctx, "", "-n", "daprshop", "patch", "pdb", "orders", "--type=json",
			"-p", `[{"op":"remove","path":"/spec/maxUnavailable"},{"op":"add","path":"/spec/minAvailable","value":1}]`)
		c.MustKubectl(t, ctx, "", "drain", "node-a", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=3m")
		for _, d := range deployments {
			c.MustKubectl(t, ctx, "", "-n", "daprshop", "rollout", "status", "deployment/"+d, "--timeout=2m")
		}
		out := c.MustKubectl(t, ctx, "", "-n", "daprshop", "get", "pods", "-l", "app.kubernetes.io/part-of=daprshop", "-o", "jsonpath={range .items[*]}{.spec.nodeName}{\"\\n\"}{end}")
		assert.NotContains(t, out, "node-a", "every pod left the drained node")
	})
}

func hasContainer(cs []container, name string) bool {
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}
