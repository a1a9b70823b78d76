package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
)

func TestUpdateStock(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		id       string
		unseeded bool
		change   func(*Stock) error
		wantErr  bool
		wantKind apperr.Kind
		want     Stock // stored afterwards, for a product that exists
	}{
		{"reserve", "mug", false, func(s *Stock) error { return s.Reserve(2) }, false, 0, Stock{Available: 6, Reserved: 2}},
		{"out of stock", "kettle", false, func(s *Stock) error { return s.Reserve(1) }, true, apperr.Conflict, Stock{}},
		{"units created", "mug", false, func(s *Stock) error { s.Available++; return nil }, true, apperr.Internal, Stock{Available: 8}},
		{"negative count", "mug", false, func(s *Stock) error { s.Available, s.Reserved = -1, 9; return nil }, true, apperr.Internal, Stock{Available: 8}},
		{"unknown product", "teapot", false, func(s *Stock) error { return s.Reserve(1) }, true, apperr.NotFound, Stock{}},
		{"bad id", "Mug", false, func(s *Stock) error { return s.Reserve(1) }, true, apperr.Invalid, Stock{}},
		{"not seeded yet", "mug", true, func(s *Stock) error { return s.Reserve(1) }, true, apperr.Unavailable, Stock{Available: 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store := newMemProducts()
			svc := newService(store)
			if tt.unseeded {
				require.NoError(t, store.Seed(ctx, testProducts)) // stored, but the service has not seeded
			} else {
				require.NoError(t, svc.Seed(ctx, testProducts))
			}
			got, err := svc.UpdateStock(ctx, tt.id, tt.change)
			if tt.wantErr {
				require.Error(t, err)
				assert.Equal(t, tt.wantKind, apperr.KindOf(err), "got %v", err)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got.Stock)
			}
			if stored, err := store.Get(ctx, tt.id); err == nil {
				assert.Equal(t, tt.want, stored.Stock)
			}
		})
	}
}

func TestReadyOnceSeeded(t *testing.T) {
	t.Parallel()
	store := newMemProducts()
	store.mem.Fail(storeDown)
	svc := newService(store)
	require.ErrorIs(t, svc.Ready(context.Background()), errNotSeeded)
	require.Error(t, svc.Seed(context.Background(), testProducts))
	assert.ErrorIs(t, svc.Ready(context.Background()), errNotSeeded, "a failed seed leaves it unready")
	store.mem.Fail(nil)
	require.NoError(t, svc.Seed(context.Background(), testProducts))
	assert.NoError(t, svc.Ready(context.Background()))
}
