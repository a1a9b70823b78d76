package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/daprshop/daprshop/internal/launcher"
)

// Where a saga's CPU goes: the CPU time of every process of a series'
// system per saga, step by step (from /proc; the report shows the best
// step's), and Go CPU profiles (pprof) of the checkout's apps and sidecars
// under one more step at the best rate, the evidence for which cost
// dominates.

// procCPU is one process's CPU time per completed saga.
type procCPU struct {
	name    string
	perSaga time.Duration
}

// loadGenerator names the benchmark's own process in the CPU table: it
// drives the load and polls the orders through the shop's client.
const loadGenerator = "bench (load, client)"

// cpuOfPID is the CPU time (user + system) process pid has used.
func cpuOfPID(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// Fields from 3 on: utime is field 14, stime 15.
	ut, err1 := strconv.ParseInt(f[14-3], 10, 64)
	st, err2 := strconv.ParseInt(f[15-3], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// cpuSample is the CPU time of each process of a system at one moment,
// keyed by name, with the pid it was read from (a process that restarted
// in between is left out of the difference).
type cpuSample map[string]struct {
	pid int
	cpu time.Duration
}

func sampleCPU(pids map[string]int) cpuSample {
	out := cpuSample{}
	for name, pid := range pids {
		if pid <= 0 {
			continue
		}
		if t, err := cpuOfPID(pid); err == nil {
			out[name] = struct {
				pid int
				cpu time.Duration
			}{pid, t}
		}
	}
	return out
}

// systemPIDs are the processes of a system started by the launcher, and
// the benchmark's own.
func systemPIDs(sys *launcher.System) map[string]int {
	out := map[string]int{loadGenerator: os.Getpid()}
	for _, n := range sys.Processes() {
		out[n] = sys.PID(n)
	}
	return out
}

// merge is the processes of a and b.
func merge(a, b map[string]int) map[string]int {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

// perSaga is each process's CPU between before and after, divided by
// sagas, the hungriest first.
func perSaga(before, after cpuSample, sagas int) []procCPU {
	var out []procCPU
	for n, a := range after {
		b, ok := before[n]
		if !ok || b.pid != a.pid || a.cpu < b.cpu || sagas == 0 {
			continue
		}
		out = append(out, procCPU{name: n, perSaga: (a.cpu - b.cpu) / time.Duration(sagas)})
	}
	slices.SortFunc(out, func(x, y procCPU) int {
		return cmp.Or(cmp.Compare(y.perSaga, x.perSaga), strings.Compare(x.name, y.name))
	})
	return out
}

// profileTarget is a process that serves Go's pprof endpoints.
type profileTarget struct{ name, base string }

// profileTargets are the apps (their ADMIN_PORT, dapr/dapr.yaml) and their
// sidecars (started with profiling on: launcher.Config.Profiling).
func profileTargets(sys *launcher.System) []profileTarget {
	var out []profileTarget
	for _, id := range []string{"gateway", "users", "catalog", "orders", "payments", "notifications"} {
		a, ok := sys.App(id)
		if !ok {
			continue
		}
		if p := a.Env["ADMIN_PORT"]; p != "" {
			out = append(out, profileTarget{id, "http://127.0.0.1:" + p})
		}
		if a.ProfilePort > 0 {
			out = append(out, profileTarget{id + ".daprd", fmt.Sprintf("http://127.0.0.1:%d", a.ProfilePort)})
		}
	}
	return out
}

// profileTop is a process's CPU profile: where it is kept, and its
// hungriest functions as `go tool pprof -top` lists them.
type profileTop struct {
	name, file string
	top        []string
	err        error
}

// captureProfiles takes a CPU profile of every target over d, at once,
// writes each to dir and lists its top functions.
func captureProfiles(ctx context.Context, targets []profileTarget, d time.Duration, dir string) []profileTop {
	out := make([]profileTop, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			out[i] = profileTop{name: t.name, file: filepath.Join(dir, t.name+".pb.gz")}
			out[i].err = fetchProfile(ctx, t.base, d, out[i].file)
		})
	}
	wg.Wait()
	for i := range out {
		if out[i].err == nil {
			out[i].top, out[i].err = topFunctions(ctx, out[i].file, 12)
		}
	}
	return out
}

func fetchProfile(ctx context.Context, base string, d time.Duration, file string) error {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s: %s", req.URL, resp.Status, oneLine(fmt.Errorf("%s", b)))
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeProfiles lists each profile's top functions, or why it has none.
func writeProfiles(b *strings.Builder, profiles []profileTop) {
	for _, pr := range profiles {
		if pr.err != nil {
			fmt.Fprintf(b, "- %s: no profile: `%s`\n\n", pr.name, oneLine(pr.err))
			continue
		}
		fmt.Fprintf(b, "- %s, the functions with the most CPU in and below them (`go tool pprof -top -cum`, plumbing hidden as in part 2):\n\n  ```\n  flat  flat%%   sum%%   cum   cum%%\n", pr.name)
		for _, l := range pr.top {
			fmt.Fprintf(b, "  %s\n", l)
		}
		fmt.Fprintf(b, "  ```\n\n")
	}
}

// hiddenFrames are the frames left out of a profile's top list: the Go
// runtime, syscalls, locks, the HTTP and gRPC servers and clients, and
// the retry and middleware wrappers (daprd's HTTP server's chain among
// them), which sit on every path and would
// fill the list; pprof gives their time to the nearest frame it shows.
const hiddenFrames = `^(runtime|internal/|syscall|sync|context|net/http|net\.|google\.golang\.org/grpc|` +
	`github\.com/cenkalti/backoff|github\.com/dapr/kit/retry|github\.com/dapr/dapr/pkg/resiliency|` +
	`github\.com/dapr/dapr/pkg/api/grpc\.\(\*server\)\.getMiddlewareOptions|go\.opentelemetry\.io/contrib|` +
	`github\.com/felixge/httpsnoop|github\.com/gorilla/mux|database/sql\.(withLock|\(\*DB\)\.retry)|` +
	`github\.com/go-chi/chi|golang\.org/x/net/http2/h2c|github\.com/dapr/dapr/pkg/middleware/http|` +
	`github\.com/dapr/dapr/pkg/api/http\.(\(\*server\)|StripSlashesMiddleware|CleanPathMiddleware|APITokenAuthMiddleware))`

// topFunctions is the n functions of the profile in file with the most
// CPU in them and below them (cumulative), the wrappers hidden, with
// pprof's flat, flat%, sum%, cum and cum% columns: where the process's
// time goes, by what it was doing.
func topFunctions(ctx context.Context, file string, n int) ([]string, error) {
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-hide="+hiddenFrames, "-nodecount="+strconv.Itoa(n), file).Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof -top %s: %w", file, err)
	}
	var rows []string
	in := false
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "flat  flat%") {
			in = true
			continue
		}
		if in && strings.TrimSpace(l) != "" {
			rows = append(rows, strings.TrimSpace(l))
		}
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("go tool pprof -top %s: no samples", file)
	}
	return rows, nil
}
