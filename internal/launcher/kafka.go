package launcher

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/daprshop/daprshop/internal/proc"
)

// kafkaSpec runs the kafka profile's broker (tools/kafka: kfake, a Kafka
// wire-protocol broker in Go; `make tools`) on the port of the
// profile's pubsub.kafka component, when that names a broker on this
// machine; ok is false when the profile has none to run.
func (s *System) kafkaSpec(res []resource) (spec proc.Spec, ok bool, err error) {
	var brokers string
	for _, r := range res {
		if r.Kind == "Component" && r.Spec.Type == "pubsub.kafka" {
			brokers = r.meta("brokers")
		}
	}
	if brokers == "" {
		return proc.Spec{}, false, nil
	}
	host, portText, err := net.SplitHostPort(strings.TrimSpace(strings.Split(brokers, ",")[0]))
	if err != nil || (host != "127.0.0.1" && host != "localhost") {
		return proc.Spec{}, false, nil // a broker elsewhere: not ours to run
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return proc.Spec{}, false, fmt.Errorf("pubsub.kafka brokers %q: %w", brokers, err)
	}
	bin := filepath.Join(s.cfg.BinDir, "kafka")
	if _, err := os.Stat(bin); err != nil {
		return proc.Spec{}, false, fmt.Errorf("kafka not found in %s: run `make tools` first", s.cfg.BinDir)
	}
	return proc.Spec{
		Name: "kafka",
		Path: bin,
		Args: []string{"-port", portText, "-data-dir", filepath.Join(s.DataDir(), "kafka")},
		Dir:  s.cfg.RootDir,
		// The broker answers once it listens; a Kafka client is the only
		// real probe, and daprd is one: it retries until the broker is up.
		Ports: []proc.Port{{Port: port, What: "kafka"}},
		Ready: proc.TCP(net.JoinHostPort("127.0.0.1", portText)),
	}, true, nil
}
