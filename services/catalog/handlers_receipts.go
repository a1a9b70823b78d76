package main

import (
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/daprshop/daprshop/internal/web"
)

// receiptRequest is the body of PUT /products/{id}/receipts/{receipt}.
type receiptRequest struct {
	Units int64 `json:"units"`
}

// handleReceiveStock records goods received: PUT, because the receipt id in
// the path makes it idempotent (the same receipt again changes nothing).
// The answer is the product's stock after the receipt.
func handleReceiveStock(logger *slog.Logger, svc *service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req receiptRequest
		if err := web.Decode(w, r, &req); err != nil {
			web.Error(w, r, logger, err)
			return
		}
		vars := mux.Vars(r)
		p, err := svc.Receive(r.Context(), vars["id"], Receipt{ID: vars["receipt"], Units: req.Units})
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		web.Respond(w, http.StatusOK, stockResponse{ID: p.ID, Available: p.Stock.Available, Reserved: p.Stock.Reserved, Sold: p.Stock.Sold})
	})
}
