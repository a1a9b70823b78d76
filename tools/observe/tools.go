//go:build tools

// Package observe records the command this module pins, so that go mod tidy
// keeps its dependencies. The Makefile builds it with go build
// (make observe-tools).
package observe

import _ "github.com/jaegertracing/jaeger/cmd/jaeger"
