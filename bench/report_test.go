package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRatio(t *testing.T) {
	tests := []struct {
		x, target float64
		want      string
	}{
		{0.7312, 0.75, "0.73"},
		{0.4968, 0.5, "0.497"},  // 0.50 beside "not met" would contradict it
		{0.7496, 0.75, "0.749"}, // 0.750 would contradict it too
		{0.5, 0.5, "0.50"},
		{0.504, 0.5, "0.50"},
		{0.2999, 0.3, "0.299"},
		{0.07, 0.3, "0.07"},
	}
	for _, tt := range tests {
		got := ratio(tt.x, tt.target)
		assert.Equal(t, tt.want, got, "ratio(%v, %v)", tt.x, tt.target)
	}
}
