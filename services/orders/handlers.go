package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/daprshop/daprshop/internal/paging"
	"github.com/daprshop/daprshop/internal/web"
)

// idempotencyHeader carries the client's key for POST /users/{id}/orders.
const idempotencyHeader = "Idempotency-Key"

// handlePlaceOrder accepts an order: 202, since the checkout that moves it
// on runs after the answer. A retry with the same Idempotency-Key and body
// gets the same answer, byte for byte.
func handlePlaceOrder(logger *slog.Logger, svc *service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(idempotencyHeader)
		var req placeOrder
		if key != "" { // a missing key is reported before the body is read
			if err := web.Decode(w, r, &req); err != nil {
				web.Error(w, r, logger, err)
				return
			}
		}
		resp, err := svc.Place(r.Context(), mux.Vars(r)["user"], key, req)
		if err == nil && !json.Valid(resp) {
			// Respond would send the 202 and then fail to encode it: an
			// empty answer the client cannot read. Never expected; logged.
			err = fmt.Errorf("place order: the answer is not JSON (%d bytes)", len(resp))
		}
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		web.Respond(w, http.StatusAccepted, resp)
	})
}

func handleGetOrder(logger *slog.Logger, svc *service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, err := svc.Order(r.Context(), mux.Vars(r)["user"], mux.Vars(r)["id"])
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		web.Respond(w, http.StatusOK, o)
	})
}

type listResponse struct {
	Items      []Order `json:"items"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

func handleListOrders(logger *slog.Logger, svc *service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := paging.Parse(r.URL.Query())
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		orders, next, err := svc.Orders(r.Context(), mux.Vars(r)["user"], p)
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		web.Respond(w, http.StatusOK, listResponse{Items: orders, NextCursor: next})
	})
}

// handleCancelOrder asks for a pending order to be cancelled: 202, the saga
// stops at its next step and undoes what it did (GET shows it cancelled
// shortly). An order cancelled already is 200; a completed one, 409.
func handleCancelOrder(logger *slog.Logger, svc *service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, err := svc.Cancel(r.Context(), mux.Vars(r)["user"], mux.Vars(r)["id"])
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		status := http.StatusAccepted
		if o.Status == StatusCancelled {
			status = http.StatusOK
		}
		web.Respond(w, status, o)
	})
}
