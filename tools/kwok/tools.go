//go:build tools

// Package tools keeps kwok's command in this module's graph (go mod tidy
// would drop it otherwise); `make k8s-tools` builds sigs.k8s.io/kwok/cmd/kwok.
package tools

import _ "sigs.k8s.io/kwok/pkg/kwok/cmd"
