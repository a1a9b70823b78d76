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
)

// sys is the running system every test in this package uses.
var sys *launcher.System

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

	profile := os.Getenv("PROFILE")
	began := time.Now()
	sys, err = launcher.Start(context.Background(), launcher.Config{
		RunFile:      filepath.Join(root, "dapr", "dapr.yaml"),
		Profile:      profile,
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
	fmt.Printf("system healthy in %s; its log: %s\n", time.Since(began).Round(100*time.Millisecond), logPath)
	code := m.Run()
	sys.Stop()
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
