package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/web"
)

func TestValidOrderID(t *testing.T) {
	t.Parallel()
	id := uuid.NewString()
	tests := []struct {
		id   string
		want bool
	}{
		{id, true},
		{"00000000-0000-0000-0000-000000000000", true},
		{strings.ToUpper(id), false},
		{"{" + id + "}", false},
		{"urn:uuid:" + id, false},
		{strings.ReplaceAll(id, "-", ""), false},
		{id[:35], false},
		{id + "0", false},
		{"g" + id[1:], false},
		{"", false},
		{id + "\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, validOrderID(tt.id))
		})
	}
}

func TestValidateLines(t *testing.T) {
	t.Parallel()
	many := func(n int) []Line {
		ls := make([]Line, n)
		for i := range ls {
			ls[i] = Line{ProductID: "p" + strings.Repeat("x", i), Quantity: 1}
		}
		return ls
	}
	tests := []struct {
		name       string
		lines      []Line
		wantFields []string // none: valid
	}{
		{"one line", lines("mug", 1), nil},
		{"the most lines and units", append(many(49), Line{ProductID: "mug", Quantity: maxQuantity}), nil},
		{"no lines", nil, []string{"items"}},
		{"too many lines", many(maxLines + 1), []string{"items"}},
		{"zero units", lines("mug", 0), []string{"items[0].quantity"}},
		{"negative units", lines("mug", -1), []string{"items[0].quantity"}},
		{"too many units", lines("mug", maxQuantity+1), []string{"items[0].quantity"}},
		{"bad id", lines("Mug", 1), []string{"items[0].product_id"}},
		{"a product twice", lines("mug", 1, "kettle", 1, "mug", 1), []string{"items[2].product_id"}},
		{"every fault named", lines("", 0, "mug", 1, "mug", 200), []string{"items[0].product_id", "items[0].quantity", "items[2].product_id", "items[2].quantity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := validateLines(tt.lines)
			if tt.wantFields == nil {
				assert.NoError(t, err)
				return
			}
			var ae *apperr.Error
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, apperr.Invalid, ae.Kind)
			var fields []string
			for _, f := range ae.Fields {
				fields = append(fields, f.Field)
			}
			assert.Equal(t, tt.wantFields, fields)
		})
	}
}

func TestReservationDue(t *testing.T) {
	t.Parallel()
	exp := newClock().Now()
	tests := []struct {
		name   string
		status ReservationStatus
		at     time.Time
		want   bool
	}{
		{"held, before its expiry", StatusReserved, exp.Add(-time.Nanosecond), false},
		{"held, at its expiry", StatusReserved, exp, true},
		{"held, after it", StatusReserved, exp.Add(time.Hour), true},
		{"confirmed", StatusConfirmed, exp.Add(time.Hour), false},
		{"cancelled", StatusCancelled, exp.Add(time.Hour), false},
		{"expired", StatusExpired, exp.Add(time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, Reservation{Status: tt.status, ExpiresAt: exp}.Due(tt.at))
		})
	}
}

func TestSameLines(t *testing.T) {
	t.Parallel()
	assert.True(t, sameLines(lines("a", 1, "b", 2), lines("b", 2, "a", 1)), "order aside")
	assert.False(t, sameLines(lines("a", 1, "b", 2), lines("a", 1, "b", 3)), "another quantity")
	assert.False(t, sameLines(lines("a", 1), lines("a", 1, "b", 2)), "another line")
}

// FuzzTryRequest feeds the try's decoder anything: it never panics, and
// whatever it accepts is within the bounds of a reservation.
func FuzzTryRequest(f *testing.F) {
	f.Add([]byte(`{"items":[{"product_id":"mug","quantity":2}]}`))
	f.Add([]byte(`{"items":[{"product_id":"mug","quantity":1},{"product_id":"mug","quantity":1}]}`))
	f.Add([]byte(`{"items":[{"product_id":"mug","quantity":1e2}]}`))
	f.Add([]byte(`{"items":[{"product_id":"mug","Quantity":1,"quantity":2}]}`))
	f.Add([]byte(`{"items":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/reservations/x/try", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		var req tryRequest
		if err := web.Decode(httptest.NewRecorder(), r, &req); err != nil {
			assert.NotEqual(t, apperr.Internal, apperr.KindOf(err), "a refusal, not a fault: %v", err)
			return
		}
		require.NotEmpty(t, req.Items)
		require.LessOrEqual(t, len(req.Items), maxLines)
		seen := map[string]bool{}
		for _, l := range req.Items {
			require.True(t, validID(l.ProductID), l.ProductID)
			require.False(t, seen[l.ProductID], "distinct products")
			seen[l.ProductID] = true
			require.True(t, l.Quantity >= 1 && l.Quantity <= maxQuantity, "quantity %d", l.Quantity)
		}
	})
}
