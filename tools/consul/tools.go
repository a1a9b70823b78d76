//go:build tools

// Package consul records the command this module pins, so that go mod tidy
// keeps its dependencies. The Makefile builds it with go build.
package consul

import _ "github.com/hashicorp/consul"
