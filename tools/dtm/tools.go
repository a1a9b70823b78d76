//go:build tools

// Package tools pins DTM (github.com/dtm-labs/dtm), the distributed
// transaction manager that bench/ runs the checkout saga with, next to
// the Dapr Workflow version. `make tools-bench` builds it into .bin/.
package tools

import _ "github.com/dtm-labs/dtm"
