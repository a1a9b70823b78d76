package launcher

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/daprshop/daprshop/internal/proc"
)

// Consul's ports in dev mode (consul agent -dev), on loopback.
const consulHTTPPort = 8500

// consulPorts are the other ports a dev agent takes.
var consulPorts = []proc.Port{
	{Port: consulHTTPPort, What: "consul HTTP API"}, {Port: 8300, What: "consul server RPC"}, {Port: 8301, What: "consul LAN gossip"},
	{Port: 8302, What: "consul WAN gossip"}, {Port: 8502, What: "consul gRPC"}, {Port: 8503, What: "consul gRPC TLS"}, {Port: 8600, What: "consul DNS"},
}

// useNameResolution points every sidecar at a copy of its Configuration
// whose nameResolution block is the one in dapr/nameresolution/<name>.yaml
// (Config.NameResolution): the files in dapr/config/ keep the default
// (SQLite), and a resolver is chosen at start without editing them. The
// copies go to .data/nameresolution/<name>/.
func (s *System) useNameResolution(name string) error {
	return s.useConfigBlock("nameresolution", "nameResolution", name)
}

// useConfigBlock points every sidecar at a copy of its Configuration (as
// it stands: another choice may have made a copy already) whose spec.<key>
// is the block in dapr/<dir>/<name>.yaml. The copies go to
// .data/<dir>/<name>/.
func (s *System) useConfigBlock(dir, key, name string) error {
	fragment := filepath.Join(s.cfg.RootDir, "dapr", dir, name+".yaml")
	b, err := os.ReadFile(fragment)
	if err != nil {
		return fmt.Errorf("%s %q: %w (the choices are the files in dapr/%s/)", key, name, err, dir)
	}
	var frag yaml.Node
	if err := yaml.Unmarshal(b, &frag); err != nil {
		return fmt.Errorf("%s: %w", fragment, err)
	}
	block := mapValue(frag.Content[0], key)
	if block == nil {
		return fmt.Errorf("%s has no %s block", fragment, key)
	}
	out := filepath.Join(s.cfg.RootDir, ".data", dir, name)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for i, a := range s.apps {
		if a.ConfigFile == "" {
			return fmt.Errorf("app %s has no Configuration to set %s in", a.AppID, key)
		}
		b, err := spliceSpec(a.ConfigFile, key, block, "dapr/"+dir+"/")
		if err != nil {
			return err
		}
		path := filepath.Join(out, a.AppID+".yaml")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
		s.apps[i].ConfigFile = path
	}
	return nil
}

// spliceSpec returns the Configuration in path with its spec.<key>
// replaced by block (added when missing), saying in a comment that the
// block comes from the fragments in from.
func spliceSpec(path, key string, block *yaml.Node, from string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	spec := mapValue(doc.Content[0], "spec")
	if spec == nil {
		return nil, fmt.Errorf("%s has no spec", path)
	}
	replaced := false
	for i := 0; i+1 < len(spec.Content); i += 2 {
		if spec.Content[i].Value == key {
			spec.Content[i+1] = block
			replaced = true
		}
	}
	if !replaced {
		spec.Content = append(spec.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, block)
	}
	var out strings.Builder
	out.WriteString("# Made by the launcher from " + path + " with the " + key + " block\n# of " + from + ": edit those, not this.\n")
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return []byte(out.String()), nil
}

// mapValue returns the value of key in a mapping node, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// consulSpec runs a Consul agent in dev mode (one server, in memory; make
// tools-consul) for the consul name resolution.
func (s *System) consulSpec() (proc.Spec, error) {
	bin := filepath.Join(s.cfg.BinDir, "consul")
	if _, err := os.Stat(bin); err != nil {
		return proc.Spec{}, fmt.Errorf("consul not found in %s: run `make tools-consul` first", s.cfg.BinDir)
	}
	return proc.Spec{
		Name:  "consul",
		Path:  bin,
		Args:  []string{"agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1", "-http-port", fmt.Sprint(consulHTTPPort), "-log-level", "warn"},
		Dir:   s.cfg.RootDir,
		Ports: consulPorts,
		Ready: consulLeader(fmt.Sprintf("http://127.0.0.1:%d/v1/status/leader", consulHTTPPort)),
	}, nil
}

// consulLeader is ready once the agent has elected itself leader: before
// that, registrations fail.
func consulLeader(url string) func(context.Context) error {
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
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) == `""` {
			return fmt.Errorf("consul has no leader yet")
		}
		return nil
	}
}

// sidecarReady is a sidecar's readiness: its health endpoint answers, and
// with Consul name resolution Consul also resolves its app id. A sidecar is
// healthy before Consul has run its first check of it, and until then no
// other sidecar can reach its app (seen in CI: "no healthy services found
// with AppID 'orders'" right after start).
func (s *System) sidecarReady(a App) func(context.Context) error {
	healthy := proc.HTTP(fmt.Sprintf("http://127.0.0.1:%d/v1.0/healthz", a.HTTPPort))
	if s.cfg.NameResolution != "consul" {
		return healthy
	}
	resolved := consulResolves(fmt.Sprintf("http://127.0.0.1:%d", consulHTTPPort), []string{a.AppID})
	return func(ctx context.Context) error {
		if err := healthy(ctx); err != nil {
			return err
		}
		return resolved(ctx)
	}
}

// consulResolves is nil once Consul has a passing instance of every app id,
// which is what Dapr's consul resolver asks it for.
func consulResolves(base string, appIDs []string) func(context.Context) error {
	client := &http.Client{Timeout: time.Second}
	return func(ctx context.Context) error {
		for _, id := range appIDs {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/health/service/"+url.PathEscape(id)+"?passing=true", nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			var instances []json.RawMessage
			err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&instances)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || err != nil {
				return fmt.Errorf("consul health of %s: %s %v", id, resp.Status, err)
			}
			if len(instances) == 0 {
				return fmt.Errorf("consul has no passing instance of %s yet", id)
			}
		}
		return nil
	}
}
