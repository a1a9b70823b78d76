// Command redisstate is daprshop's Redis state store for Dapr, a pluggable
// component: it serves Dapr's gRPC component protocol (StateStore,
// TransactionalStateStore, TransactionalStoreMultiMaxSize) on the Unix
// socket <folder>/<name>.sock, which daprd finds when it starts and offers
// as the component type state.<name> (state.daprshop-redis by default).
//
// Unlike Dapr's state.redis, a transaction is all-or-nothing: it runs as
// one Lua script that checks every operation (ETag, first-write, a missing
// key) before it writes any (scripts.go; docs/dapr-notes.md says what
// state.redis does instead).
//
// Flags and environment:
//
//	-socket-folder  DAPR_COMPONENTS_SOCKETS_FOLDER (what daprd reads),
//	                else DAPR_COMPONENT_SOCKETS_FOLDER (what Dapr's injector
//	                gives a component's container), else
//	                /tmp/dapr-components-sockets (daprd's default too)
//	-name           the socket's name, so the component type (daprshop-redis)
//	-probe          ask the running component for its features over the
//	                socket and exit 0 when it answers (a container's
//	                liveness and readiness probe: Kubernetes probes no
//	                Unix socket itself)
//
// Component metadata: redisHost (host:port), redisUsername, redisPassword,
// redisDB, enableTLS. It must be started before the daprd that uses it, and stopped
// after it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	pb "github.com/dapr/dapr/pkg/proto/components/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/reflection"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "redisstate:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("redisstate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	folder := getenv("DAPR_COMPONENTS_SOCKETS_FOLDER")
	if folder == "" {
		// What Dapr's injector sets in a component's container (singular).
		folder = getenv("DAPR_COMPONENT_SOCKETS_FOLDER")
	}
	if folder == "" {
		folder = "/tmp/dapr-components-sockets"
	}
	fs.StringVar(&folder, "socket-folder", folder, "the folder of pluggable components' sockets daprd reads")
	name := fs.String("name", "daprshop-redis", "the socket's name, so the component type state.<name>")
	probe := fs.Bool("probe", false, "exit 0 when the component answers on its socket")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sock := filepath.Join(folder, *name+".sock")
	if *probe {
		return probeSocket(ctx, sock)
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil)).With("component", "state."+*name)

	if err := os.MkdirAll(folder, 0o755); err != nil {
		return fmt.Errorf("socket folder: %w", err)
	}
	// The configs of the components daprd initialised: a folder, which
	// daprd's discovery skips.
	in, err := newInstances(filepath.Join(folder, *name+".instances"))
	if err != nil {
		return err
	}
	defer in.close()

	// A socket left by a process that died: nobody answers on it.
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove old socket: %w", err)
	}
	lis, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer os.Remove(sock)

	srv := grpc.NewServer()
	s := &server{log: log, instances: in}
	pb.RegisterStateStoreServer(srv, s)
	pb.RegisterTransactionalStateStoreServer(srv, s)
	pb.RegisterTransactionalStoreMultiMaxSizeServer(srv, s)
	// daprd lists a socket's services by reflection to learn what it is.
	reflection.Register(srv)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	log.InfoContext(ctx, "serving", "socket", sock)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Calls in flight finish (each is one short script); then the socket goes.
	srv.GracefulStop()
	log.Info("stopped")
	return nil
}

// probeSocket calls Features on the socket: an answer means the server
// serves (a socket alone still accepts connections from a hung process).
func probeSocket(ctx context.Context, sock string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("probe %s: %w", sock, err)
	}
	defer conn.Close()
	if _, err := pb.NewStateStoreClient(conn).Features(ctx, &pb.FeaturesRequest{}); err != nil {
		return fmt.Errorf("probe %s: %w", sock, err)
	}
	return nil
}
