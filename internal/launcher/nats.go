package launcher

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/daprshop/daprshop/internal/daprproc"
	"github.com/daprshop/daprshop/internal/proc"
)

// natsSpec runs nats-server with JetStream on the port of the profile's
// pubsub.jetstream component, its store under the data folder.
func (s *System) natsSpec(res []resource) (proc.Spec, error) {
	js := jetStreamTopics(res, daprNamespace(), s.appIDs())
	if len(js) == 0 {
		return proc.Spec{}, fmt.Errorf("profile %s has no pubsub.jetstream component for the launcher's NATS server", s.cfg.Profile)
	}
	u, err := url.Parse(js[0].NatsURL)
	if err != nil || u.Port() == "" {
		return proc.Spec{}, fmt.Errorf("pubsub %s: natsURL %q has no port", js[0].Name, js[0].NatsURL)
	}
	port, _ := strconv.Atoi(u.Port())
	return daprproc.NATS{
		Port: port, MonitorPort: port + natsMonitorOffset,
		StoreDir: filepath.Join(s.DataDir(), "nats"), ServerName: "daprshop-local",
	}.Spec(filepath.Join(s.cfg.BinDir, "nats-server"), s.cfg.RootDir, nil), nil
}

// ensureStreams creates (or updates) one JetStream stream per topic of every
// pubsub.jetstream component in the profile. Streams keep messages for a
// week, so a subscriber that was down catches up from its durable consumer.
// For a fresh system (Config.Fresh) each stream is deleted first, with its
// messages and durable consumers: the local profile's server starts with an
// empty store anyway, but a profile on the machine's NATS server keeps both
// from the last run.
func (s *System) ensureStreams(ctx context.Context) error {
	res, err := readResources(s.apps[0].ResourcesPaths)
	if err != nil {
		return err
	}
	for _, ps := range jetStreamTopics(res, daprNamespace(), s.appIDs()) {
		names := map[string]string{}
		for _, topic := range ps.Topics {
			n := streamName(topic)
			if other, clash := names[n]; clash {
				return fmt.Errorf("pubsub %s: topics %q and %q would share the JetStream stream %q; rename one", ps.Name, other, topic, n)
			}
			names[n] = topic
		}
		nc, err := nats.Connect(ps.NatsURL, nats.Name("daprshop launcher"), nats.Timeout(5*time.Second))
		if err != nil {
			return fmt.Errorf("connect to NATS at %s for pubsub %s: %w", ps.NatsURL, ps.Name, err)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			nc.Close()
			return err
		}
		for _, topic := range ps.Topics {
			if s.cfg.Fresh {
				err := js.DeleteStream(ctx, streamName(topic))
				if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
					nc.Close()
					return fmt.Errorf("delete stream for topic %s (fresh start): %w", topic, err)
				}
			}
			_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
				Name:     streamName(topic),
				Subjects: []string{topic},
				Storage:  jetstream.FileStorage,
				MaxAge:   7 * 24 * time.Hour,
			})
			if err != nil {
				nc.Close()
				return fmt.Errorf("create stream for topic %s: %w", topic, err)
			}
		}
		nc.Close()
		s.out.System("JetStream streams ready for pubsub %s: %v", ps.Name, ps.Topics)
	}
	return nil
}

// daprNamespace is the namespace a self-hosted daprd runs in.
func daprNamespace() string {
	if ns := os.Getenv("NAMESPACE"); ns != "" {
		return ns
	}
	return "default"
}

func (s *System) appIDs() []string {
	ids := make([]string, 0, len(s.apps))
	for _, a := range s.apps {
		ids = append(ids, a.AppID)
	}
	return ids
}
