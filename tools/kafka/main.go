// Command kafka is the Kafka broker of the kafka profile: kfake, franz-go's
// in-process Kafka cluster, which speaks the Kafka wire protocol (produce,
// fetch, consumer groups with committed offsets, transactions), run as one
// broker on 127.0.0.1. It is not Apache Kafka: no replication, no KRaft or
// ZooKeeper, no tiered storage, no quota enforcement, no share groups
// (tools/kafka/README.md lists what it lacks). Topics are created on first
// use, as Dapr's pubsub.kafka expects. Without -data-dir it keeps everything
// in memory; with it, state survives a restart (flushed on SIGTERM).
//
// Usage: kafka [-port 9092] [-data-dir DIR] [-partitions 3] [-log-level warn]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kafka:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("kafka", flag.ContinueOnError)
	fs.SetOutput(stdout)
	port := fs.Int("port", 9092, "port to listen on, on 127.0.0.1")
	dataDir := fs.String("data-dir", "", "folder to keep topics, offsets and groups in across restarts (empty: memory only)")
	// More than one partition, so that per-key ordering means something
	// (keys spread over partitions) and several instances of one app id
	// can share a topic; Apache Kafka's num.partitions default is 1.
	partitions := fs.Int("partitions", 3, "partitions of an auto-created topic")
	level := fs.String("log-level", "warn", "none, error, warn, info or debug (info logs every request)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	logLevel, err := parseLevel(*level)
	if err != nil {
		return err
	}

	opts := []kfake.Opt{
		kfake.Ports(*port), // one port, one broker
		kfake.ClusterID("daprshop"),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(*partitions),
		kfake.WithLogger(kfake.BasicLogger(stdout, logLevel)),
	}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start broker: %w", err)
	}
	fmt.Fprintf(stdout, "kafka (kfake) listening on %s, %d partitions per new topic, data %s\n",
		strings.Join(c.ListenAddrs(), ","), *partitions, orMemory(*dataDir))
	<-ctx.Done()
	// Close stops the listener and, with a data folder, writes the state
	// out before it returns.
	c.Close()
	fmt.Fprintln(stdout, "kafka stopped")
	return nil
}

func parseLevel(s string) (kfake.LogLevel, error) {
	switch strings.ToLower(s) {
	case "none":
		return kfake.LogLevelNone, nil
	case "error":
		return kfake.LogLevelError, nil
	case "warn":
		return kfake.LogLevelWarn, nil
	case "info":
		return kfake.LogLevelInfo, nil
	case "debug":
		return kfake.LogLevelDebug, nil
	}
	return 0, fmt.Errorf("unknown log level %q", s)
}

func orMemory(dir string) string {
	if dir == "" {
		return "in memory"
	}
	return dir
}
