package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/daprshop/daprshop/internal/proc"
)

// The Redis server of the redis profile's series.

// redisAddr is where the redis profile's components find Redis
// (components/redis/*.yaml).
const redisAddr = "127.0.0.1:6379"

// redisAnswers reports whether a Redis server answers PING at redisAddr.
func redisAnswers() bool {
	c, err := net.DialTimeout("tcp", redisAddr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	b := make([]byte, 7)
	n, _ := io.ReadAtLeast(c, b, 5)
	return strings.HasPrefix(string(b[:n]), "+PONG")
}

// ensureRedis finds the Redis server the redis profile needs on
// 127.0.0.1:6379. In the private network namespace `make bench` runs in,
// the machine's Redis is out of reach and the port is free: a
// redis-server of the namespace's own is started there (no persistence),
// and stop ends it. why says why there is none.
func ensureRedis(cfg config, log func(string, ...any)) (stop func(), source, why string) {
	if redisAnswers() {
		return func() {}, "the machine's Redis server on " + redisAddr + " (database 3, flushed by `components/redis/reset` when the system starts)", ""
	}
	if !onlyLoopback() {
		return nil, "", "no Redis server answers on " + redisAddr
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", "no Redis server answers on " + redisAddr + " inside the benchmark's private network namespace, and no redis-server binary is on PATH to start one there"
	}
	dir, err := os.MkdirTemp("", "bench-redis-")
	if err != nil {
		return nil, "", err.Error()
	}
	p, err := startChild(proc.Spec{
		Name: "redis-server", Path: bin, Dir: dir,
		Args:  []string{"--bind", "127.0.0.1", "--port", "6379", "--save", "", "--appendonly", "no", "--dir", dir},
		Ready: proc.TCP(redisAddr),
	}, 15*time.Second)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", "a redis-server started inside the benchmark's private network namespace did not become ready: " + err.Error()
	}
	stop = func() { p.stop(); os.RemoveAll(dir) }
	version := ""
	if out, err := exec.Command(bin, "--version").Output(); err == nil {
		if f := strings.Fields(string(out)); len(f) >= 3 {
			version = " " + strings.TrimPrefix(f[2], "v=")
		}
	}
	log("part 2: started redis-server%s on %s inside the private network namespace", version, redisAddr)
	return stop, fmt.Sprintf("a redis-server%s (`%s`, the machine's) started by the benchmark on %s inside its private network namespace, where the machine's Redis is out of reach; no persistence (`--save \"\" --appendonly no`), as the CI machine runs it", version, bin, redisAddr), ""
}
