package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSeedProducts(t *testing.T) {
	t.Parallel()
	require.GreaterOrEqual(t, len(seedProducts), 10)
	var ids []string
	soldOut, scarce := 0, 0
	for _, p := range seedProducts {
		t.Run(p.ID, func(t *testing.T) {
			t.Parallel()
			assert.True(t, validID(p.ID), "id shape")
			assert.NotEmpty(t, p.Name)
			assert.Positive(t, p.PriceCents)
			assert.GreaterOrEqual(t, p.Stock.Available, int64(0))
			assert.Equal(t, Stock{Available: p.Stock.Available}, p.Stock, "nothing reserved or sold at the start")
		})
		ids = append(ids, p.ID)
		switch {
		case p.Stock.Available == 0:
			soldOut++
		case p.Stock.Available <= 3:
			scarce++
		}
	}
	assert.True(t, slices.IsSorted(ids), "listed in id order, as the API lists them")
	assert.Len(t, slices.Compact(ids), len(seedProducts), "ids unique")
	assert.Equal(t, 1, soldOut, "one product sold out from the start")
	assert.GreaterOrEqual(t, scarce, 1, "a product that runs out after a few orders")
}

// flakyStore fails the first failures seeds, as a store behind a sidecar
// that is not up yet does.
type flakyStore struct {
	*memProducts
	failures int
}

func (s *flakyStore) Seed(ctx context.Context, products []Product) error {
	if s.failures > 0 {
		s.failures--
		return storeDown
	}
	return s.memProducts.Seed(ctx, products)
}

func TestSeedUntilDoneTriesUntilTheStoreAnswers(t *testing.T) {
	t.Parallel()
	store := &flakyStore{memProducts: newMemProducts(), failures: 3}
	svc := newService(store)
	var waits []int
	backoff := func(attempt int) time.Duration {
		require.ErrorIs(t, svc.Ready(context.Background()), errNotSeeded, "not ready while failing")
		waits = append(waits, attempt)
		return 0
	}
	require.NoError(t, seedUntilDone(context.Background(), discard, svc, testProducts, backoff))
	assert.Equal(t, []int{1, 2, 3}, waits)
	assert.NoError(t, svc.Ready(context.Background()))
	ids, err := store.Index(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"beans-1kg", "kettle", "mug"}, ids)
}

func TestSeedUntilDoneStopsWithItsContext(t *testing.T) {
	t.Parallel()
	store := &flakyStore{memProducts: newMemProducts(), failures: 1 << 30}
	svc := newService(store)
	ctx, cancel := context.WithCancel(context.Background())
	backoff := func(attempt int) time.Duration {
		if attempt == 1 {
			return 0
		}
		cancel() // shut down while waiting to try again
		return time.Hour
	}
	assert.ErrorIs(t, seedUntilDone(ctx, discard, svc, testProducts, backoff), context.Canceled)
	assert.ErrorIs(t, svc.Ready(context.Background()), errNotSeeded)
}

func TestSeedBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		attempt int
		max     time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{6, 3200 * time.Millisecond},
		{7, 5 * time.Second},
		{1000, 5 * time.Second},
	}
	for _, tt := range tests {
		for range 20 {
			d := seedBackoff(tt.attempt)
			assert.GreaterOrEqual(t, d, tt.max/2, "attempt %d", tt.attempt)
			assert.LessOrEqual(t, d, tt.max, "attempt %d", tt.attempt)
		}
	}
}

// The README documents the seed; this keeps the two the same.
func TestREADMEListsTheSeed(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	var want []string
	for _, p := range seedProducts {
		want = append(want, fmt.Sprintf("| %s | %s | %d | %d |", p.ID, p.Name, p.PriceCents, p.Stock.Available))
	}
	var got []string
	for l := range strings.Lines(string(readme)) {
		l = strings.TrimSpace(l)
		for _, p := range seedProducts {
			if strings.HasPrefix(l, "| "+p.ID+" |") {
				got = append(got, l)
			}
		}
	}
	assert.Equal(t, want, got)
}
