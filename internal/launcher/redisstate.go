package launcher

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/daprshop/daprshop/internal/proc"
)

// redisStateType is the component type of the redis profile's state
// stores: the pluggable component pluggable/redisstate, which daprd finds
// as the socket daprshop-redis.sock in its sockets folder.
const (
	redisStateType   = "state.daprshop-redis"
	redisStateSocket = "daprshop-redis"
	// socketsFolderEnv is the variable daprd reads its sockets folder from
	// (its default is /tmp/dapr-components-sockets, shared by every daprd
	// of the machine; the launcher gives its own).
	socketsFolderEnv = "DAPR_COMPONENTS_SOCKETS_FOLDER"
)

// socketsFolder is where the launcher's pluggable components listen.
func (s *System) socketsFolder() string {
	return filepath.Join(s.DataDir(), "sockets")
}

// redisStateSpec runs the redis profile's state store component
// (.bin/redisstate, `make tools`) when a resource uses it; ok is false when
// none does. It belongs to the servers' tier: up before the sidecars, which
// look for its socket once, when they start, and down after them.
func (s *System) redisStateSpec(res []resource) (spec proc.Spec, ok bool, err error) {
	used := false
	for _, r := range res {
		if r.Kind == "Component" && r.Spec.Type == redisStateType {
			used = true
		}
	}
	if !used {
		return proc.Spec{}, false, nil
	}
	bin := filepath.Join(s.cfg.BinDir, "redisstate")
	if _, err := os.Stat(bin); err != nil {
		return proc.Spec{}, false, fmt.Errorf("redisstate not found in %s: run `make tools` first", s.cfg.BinDir)
	}
	sock := filepath.Join(s.socketsFolder(), redisStateSocket+".sock")
	if len(sock) >= 108 { // sun_path
		return proc.Spec{}, false, fmt.Errorf("the component socket %s is longer than a Unix socket path may be (107 bytes): run from a shorter folder", sock)
	}
	return proc.Spec{
		Name: "redisstate",
		Path: bin,
		Args: []string{"-socket-folder", s.socketsFolder(), "-name", redisStateSocket},
		Dir:  s.cfg.RootDir,
		Ready: func(ctx context.Context) error {
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", sock)
			if err != nil {
				return err
			}
			return c.Close()
		},
	}, true, nil
}
