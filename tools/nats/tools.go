//go:build tools

// Package nats only records the nats-server dependency; make builds it.
package nats

import _ "github.com/nats-io/nats-server/v2"
