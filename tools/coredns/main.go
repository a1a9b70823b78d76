// Command coredns is CoreDNS with the plugins the cluster's DNS uses
// (tests/k8s/testdata/coredns.yaml), built as CoreDNS documents for a
// custom build: its server, the plugins imported here, and coremain. The
// directive order is CoreDNS's own (dnsserver.Directives); a Corefile that
// names a plugin not imported here is refused at start.
package main

import (
	_ "github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() { coremain.Run() }
