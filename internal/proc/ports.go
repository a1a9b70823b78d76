package proc

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AwaitPorts runs CheckPorts until it passes or wait is over. Most fixed
// ports of the local system lie in Linux's ephemeral range (32768-60999),
// so an outgoing connection of any process may hold one for a moment; a
// server that holds one is still reported, after the wait.
func AwaitPorts(ctx context.Context, specs []Spec, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		err := CheckPorts(specs)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-tick.C:
		}
	}
}

// CheckPorts fails with every taken port named, before anything starts.
func CheckPorts(specs []Spec) error {
	var taken []string
	seen := map[int]string{}
	specs = slices.Clone(specs)
	slices.SortFunc(specs, func(a, b Spec) int { return strings.Compare(a.Name, b.Name) })
	for _, s := range specs {
		for _, p := range s.Ports {
			if other, dup := seen[p.Port]; dup {
				taken = append(taken, fmt.Sprintf("port %d is set twice: %s and %s", p.Port, other, p.What))
				continue
			}
			seen[p.Port] = p.What
			l, err := net.Listen("tcp", ":"+strconv.Itoa(p.Port))
			if err != nil {
				taken = append(taken, fmt.Sprintf("port %d (%s) is taken by another process", p.Port, p.What))
				continue
			}
			l.Close()
		}
	}
	if len(taken) > 0 {
		return fmt.Errorf("cannot start: %s\nstop what holds it (`ss -ltnp | grep :PORT` shows it), or change the port in dapr/dapr.yaml", strings.Join(taken, "; "))
	}
	return nil
}

// FreePorts asks the kernel for n free loopback ports at once.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
