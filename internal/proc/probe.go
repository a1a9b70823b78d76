package proc

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"
)

// Probe reports whether a process serves (nil) or not yet (why).
type Probe func(context.Context) error

// HTTP is ready once url answers one of the statuses (any 2xx when none is
// given).
func HTTP(url string, statuses ...int) Probe {
	client := &http.Client{Timeout: time.Second}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if len(statuses) == 0 && resp.StatusCode/100 == 2 || slices.Contains(statuses, resp.StatusCode) {
			return nil
		}
		return fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
}

// TCP is ready once addr accepts a connection.
func TCP(addr string) Probe { return Dial("tcp", addr) }

// Dial is ready once something accepts a connection at addr on network
// ("tcp", "unix").
func Dial(network, addr string) Probe {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}
