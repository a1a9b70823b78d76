package main

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRunRefusesBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"negative credit", map[string]string{"STARTING_CREDIT_CENTS": "-1"}, "STARTING_CREDIT_CENTS"},
		{"fractional credit", map[string]string{"STARTING_CREDIT_CENTS": "1.5"}, "STARTING_CREDIT_CENTS"},
		{"negative failure rate", map[string]string{"FAULT_FAILURE_RATE": "-0.1"}, "FAULT_FAILURE_RATE"},
		{"failure rate above 1", map[string]string{"FAULT_FAILURE_RATE": "1.5"}, "FAULT_FAILURE_RATE"},
		{"failure rate NaN", map[string]string{"FAULT_FAILURE_RATE": "NaN"}, "FAULT_FAILURE_RATE"},
		{"failure rate in percent", map[string]string{"FAULT_FAILURE_RATE": "20%"}, "FAULT_FAILURE_RATE"},
		{"latency without a unit", map[string]string{"FAULT_LATENCY": "200"}, "FAULT_LATENCY"},
		{"negative latency", map[string]string{"FAULT_LATENCY": "-1s"}, "FAULT_LATENCY"},
		{"unknown step", map[string]string{"FAULT_STEP": "confirm"}, "FAULT_STEP"},
		{"step in capitals", map[string]string{"FAULT_STEP": "Charge"}, "FAULT_STEP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.env["APP_PORT"] = "0"
			err := run(context.Background(), nil, func(k string) string { return tt.env[k] }, io.Discard)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}
