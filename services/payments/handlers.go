package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/web"
)

type walletResponse struct {
	BalanceCents int64 `json:"balance_cents"`
}

func handleGetWallet(logger *slog.Logger, svc *service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wal, err := svc.Wallet(r.Context(), mux.Vars(r)["id"])
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		web.Respond(w, http.StatusOK, walletResponse{BalanceCents: wal.BalanceCents})
	})
}

// handleChargeOrder charges an order: 200 with the receipt of its first
// charge, also on a repeat; 422 when declined; 409 when the order was
// charged otherwise or refunded first; 503 when worth a retry.
func handleChargeOrder(logger *slog.Logger, svc *service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req chargeRequest
		if err := web.Decode(w, r, &req); err != nil {
			web.Error(w, r, logger, err)
			return
		}
		receipt, err := svc.ChargeOrder(r.Context(), mux.Vars(r)["order"], req)
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		web.Respond(w, http.StatusOK, receipt)
	})
}

// handleRefundOrder refunds an order's charge, or records that there was
// none: 200 either way, on every repeat too.
func handleRefundOrder(logger *slog.Logger, svc *service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := decodeNoFields(w, r); err != nil {
			web.Error(w, r, logger, err)
			return
		}
		receipt, err := svc.RefundOrder(r.Context(), mux.Vars(r)["order"])
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		web.Respond(w, http.StatusOK, receipt)
	})
}

// decodeNoFields accepts a request without a body, as a workflow activity
// may send it, or with a JSON object without fields, checked as strictly as
// any body.
func decodeNoFields(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, web.MaxBodyBytes+1))
	if err != nil {
		return apperr.Wrap(apperr.Invalid, err, "the body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	return web.Decode(w, r, &struct{}{})
}

type chargeResponse struct {
	OrderID     string       `json:"order_id"`
	UserID      string       `json:"user_id"`
	AmountCents int64        `json:"amount_cents"`
	Status      ChargeStatus `json:"status"`
}

func handleGetCharge(logger *slog.Logger, svc *service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := svc.Charge(r.Context(), mux.Vars(r)["order"])
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		web.Respond(w, http.StatusOK, chargeResponse{OrderID: c.OrderID, UserID: c.UserID, AmountCents: c.AmountCents, Status: c.Status})
	})
}

type merchantResponse struct {
	BalanceCents int64 `json:"balance_cents"`
}

func handleGetMerchant(logger *slog.Logger, svc *service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		balance, err := svc.MerchantBalance(r.Context())
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		web.Respond(w, http.StatusOK, merchantResponse{BalanceCents: balance})
	})
}
