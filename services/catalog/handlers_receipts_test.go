package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/faults"
)

func TestReceiveStock(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faults.Faults{})
	// The mug starts with 8 available (testProducts).
	steps := []struct {
		name, target, body string
		wantStatus         int
		wantField          string
		wantAvailable      int64 // the mug's, after the step
	}{
		{"a receipt adds its units", "/products/mug/receipts/dn-1", `{"units":5}`, http.StatusOK, "", 13},
		{"the same receipt with other units is a conflict", "/products/mug/receipts/dn-1", `{"units":6}`, http.StatusConflict, "", 13},
		{"another receipt adds its units", "/products/mug/receipts/dn-2", `{"units":1}`, http.StatusOK, "", 14},
		{"zero units", "/products/mug/receipts/dn-3", `{"units":0}`, http.StatusBadRequest, "units", 14},
		{"negative units", "/products/mug/receipts/dn-3", `{"units":-4}`, http.StatusBadRequest, "units", 14},
		{"too many units", "/products/mug/receipts/dn-3", `{"units":1000001}`, http.StatusBadRequest, "units", 14},
		{"an unknown field", "/products/mug/receipts/dn-3", `{"units":1,"sold":-1}`, http.StatusBadRequest, "sold", 14},
		{"a receipt id too long", "/products/mug/receipts/" + strings.Repeat("x", 65), `{"units":1}`, http.StatusBadRequest, "receipt", 14},
		{"a receipt id with a dot", "/products/mug/receipts/dn.3", `{"units":1}`, http.StatusBadRequest, "receipt", 14},
		{"a product id not in its form", "/products/Mug/receipts/dn-3", `{"units":1}`, http.StatusBadRequest, "id", 14},
		{"an unknown product", "/products/teapot/receipts/dn-3", `{"units":1}`, http.StatusNotFound, "", 14},
	}
	for _, s := range steps { // in order: each step sees the ones before
		for range 2 { // and once more: a retry changes nothing
			w := h.do(http.MethodPut, s.target, "application/json", s.body)
			require.Equal(t, s.wantStatus, w.Code, "%s: %s", s.name, w.Body.String())
			if s.wantStatus != http.StatusOK {
				assertProblem(t, s.wantStatus, s.wantField, w)
				continue
			}
			var got stockResponse
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
			assert.Equal(t, stockResponse{ID: "mug", Available: s.wantAvailable}, got, s.name)
		}
		got := h.stock(t)["mug"]
		assert.Equal(t, s.wantAvailable, got.Available, s.name)
		assert.Zero(t, got.Reserved+got.Sold, s.name)
	}
	require.Equal(t, int64(3+1+2), h.stock(t)["beans-1kg"].Total(), "other products untouched")
}
