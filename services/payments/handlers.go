package main

import (
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

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
