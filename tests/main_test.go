// Package tests holds what crosses services: end-to-end scenarios that start
// the real system (pinned daprd sidecars, placement, scheduler, NATS
// JetStream, SQLite stores) through the launcher's own code and drive it
// through the gateway.
package tests

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/launcher"
	"github.com/daprshop/daprshop/internal/shopclient"
)

// sys is the running system every test in this package uses.
var sys *launcher.System

// systemLog is the file every process of the system writes its lines to,
// each behind its name (the fault scenarios count what the apps logged).
var systemLog string

// traces receives the spans of the running system.
var traces *traceSink

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// `go test -short` runs unit tests only; the tests here skip.
		os.Exit(m.Run())
	}
	os.Exit(runWithSystem(m))
}

func runWithSystem(m *testing.M) int {
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	logPath := filepath.Join(root, "tests", "logs", "system.log")
	systemLog = logPath
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer logFile.Close()

	// Before the system: every app and sidecar sends its spans here.
	traces, err = startTraceSink("127.0.0.1:4318")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer traces.Close()
	// TRACING=zipkin: the sidecars export Zipkin (dapr/tracing/zipkin.yaml).
	if os.Getenv("TRACING") == "zipkin" {
		if err := traces.listenZipkin("127.0.0.1:9411"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}

	profile := os.Getenv("PROFILE")
	began := time.Now()
	sys, err = launcher.Start(context.Background(), launcher.Config{
		RunFile: filepath.Join(root, "dapr", "dapr.yaml"),
		Profile: profile,
		// sqlite (empty), mdns or consul: dapr/nameresolution/.
		NameResolution: os.Getenv("NAMERESOLUTION"),
		// otel (empty) or zipkin: dapr/tracing/.
		Tracing:      os.Getenv("TRACING"),
		RootDir:      root,
		Output:       logFile,
		Fresh:        true,
		ReadyTimeout: 3 * time.Minute,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "start the system: %v\n", err)
		printTail(logPath, 80)
		return 1
	}
	if _, ok := sys.App("recommendations"); ok {
		apps = append(apps, "recommendations")
	} else if os.Getenv("CI") != "" {
		fmt.Fprintln(os.Stderr, "the launcher skipped recommendations (its log says why): in CI it must run")
		printTail(logPath, 80)
		sys.Stop()
		return 1
	}
	if shop, auditor, err = shopclient.ForSystem(sys, client); err != nil {
		fmt.Fprintln(os.Stderr, err)
		sys.Stop()
		return 1
	}
	if err := auditor.AwaitReady(context.Background(), 2*time.Minute); err != nil {
		fmt.Fprintf(os.Stderr, "the system is healthy but not ready: %v\n", err)
		printTail(logPath, 80)
		sys.Stop()
		return 1
	}
	fmt.Printf("system ready in %s; its log: %s\n", time.Since(began).Round(100*time.Millisecond), logPath)
	code := m.Run()
	sys.Stop()
	if err := writeChaosTable(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	if path := os.Getenv("CHAOS_REPORT"); path != "" && code == 0 {
		if err := writeChaosReport(path); err != nil {
			fmt.Fprintf(os.Stderr, "write the chaos report: %v\n", err)
			code = 1
		}
	}
	if code != 0 {
		printTail(logPath, 120)
	}
	return code
}

// printTail shows the end of the system log, so that a failure in CI comes
// with what the processes said.
func printTail(path string, n int) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	fmt.Fprintf(os.Stderr, "---- last %d lines of %s ----\n", len(lines), path)
	for _, l := range lines {
		fmt.Fprintln(os.Stderr, l)
	}
}

// apps are the apps of the run file the launcher runs, each of which
// serves /readyz: recommendations joins them where Node.js runs it (always
// in CI).
var apps = []string{"gateway", "users", "catalog", "orders", "payments", "notifications"}
