package main

import (
	"fmt"
	"os"
	"time"
)

// What distroless "static" (gcr.io/distroless/static-debian12:nonroot)
// gives a static Go binary, and nothing more: the same users and groups,
// CA certificates and time zones (this machine's, from Debian's
// ca-certificates and tzdata: the packages distroless takes them from),
// a writable /tmp and the nonroot user's home. No shell, no libc.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\n" +
		"nobody:x:65534:\n" +
		"tty:x:5:\n" +
		"staff:x:50:\n" +
		"nonroot:x:65532:\n"
	nsswitch = "hosts: files dns\n"

	caFile   = "/etc/ssl/certs/ca-certificates.crt"
	zoneInfo = "/usr/share/zoneinfo"
)

func staticBase(at time.Time) (*layer, error) {
	l := newLayer(at)
	l.file("/etc/passwd", 0o644, []byte(passwd))
	l.file("/etc/group", 0o644, []byte(group))
	l.file("/etc/nsswitch.conf", 0o644, []byte(nsswitch))
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("the static base takes this machine's CA certificates (Debian's ca-certificates): %w", err)
	}
	l.file(caFile, 0o644, ca)
	if _, err := os.Stat(zoneInfo); err != nil {
		return nil, fmt.Errorf("the static base takes this machine's time zones (Debian's tzdata): %w", err)
	}
	if err := l.addTree(zoneInfo, zoneInfo); err != nil {
		return nil, err
	}
	l.dir("/root", 0o700, 0, 0)
	l.dir("/home/nonroot", 0o700, 65532, 65532)
	l.dir("/tmp", 0o1777, 0, 0)
	return l, nil
}
