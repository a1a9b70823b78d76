package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestStockMoves(t *testing.T) {
	t.Parallel()
	start := Stock{Available: 5, Reserved: 2, Sold: 1}
	tests := []struct {
		name    string
		move    func(*Stock) error
		want    Stock
		wantErr error
	}{
		{"reserve", func(s *Stock) error { return s.Reserve(3) }, Stock{Available: 2, Reserved: 5, Sold: 1}, nil},
		{"reserve all", func(s *Stock) error { return s.Reserve(5) }, Stock{Available: 0, Reserved: 7, Sold: 1}, nil},
		{"reserve too many", func(s *Stock) error { return s.Reserve(6) }, start, ErrOutOfStock},
		{"confirm", func(s *Stock) error { return s.Confirm(2) }, Stock{Available: 5, Reserved: 0, Sold: 3}, nil},
		{"confirm more than reserved", func(s *Stock) error { return s.Confirm(3) }, start, ErrOutOfStock},
		{"release", func(s *Stock) error { return s.Release(1) }, Stock{Available: 6, Reserved: 1, Sold: 1}, nil},
		{"release more than reserved", func(s *Stock) error { return s.Release(3) }, start, ErrOutOfStock},
		{"zero units", func(s *Stock) error { return s.Reserve(0) }, start, ErrBadMove},
		{"negative units", func(s *Stock) error { return s.Release(-1) }, start, ErrBadMove},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := start
			assert.ErrorIs(t, tt.move(&s), tt.wantErr)
			assert.Equal(t, tt.want, s)
			assert.Equal(t, start.Total(), s.Total(), "no unit created or destroyed")
		})
	}
}

func TestCheckChange(t *testing.T) {
	t.Parallel()
	before := Stock{Available: 5, Reserved: 2, Sold: 1}
	tests := []struct {
		name    string
		after   Stock
		wantErr error
	}{
		{"a move", Stock{Available: 4, Reserved: 2, Sold: 2}, nil},
		{"unchanged", before, nil},
		{"units created", Stock{Available: 6, Reserved: 2, Sold: 1}, ErrBadMove},
		{"units destroyed", Stock{Available: 5, Reserved: 1, Sold: 1}, ErrBadMove},
		{"negative count", Stock{Available: -1, Reserved: 8, Sold: 1}, ErrBadMove},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.ErrorIs(t, checkChange(before, tt.after), tt.wantErr)
		})
	}
}

func TestValidID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id   string
		want bool
	}{
		{"espresso-beans-1kg", true},
		{"mug", true},
		{"0", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"Mug", false},
		{"mug-", false},
		{"-mug", false},
		{"beans--1kg", false},
		{"beans_1kg", false},
		{"beans 1kg", false},
		{"café", false},
		{"mug\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, validID(tt.id))
		})
	}
}
