package main

import (
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/daprshop/daprshop/internal/paging"
	"github.com/daprshop/daprshop/internal/web"
)

// productResponse is a product as clients see it: what can be bought, not
// how much is reserved or sold.
type productResponse struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Available  int64  `json:"available"`
}

func toResponse(p Product) productResponse {
	return productResponse{ID: p.ID, Name: p.Name, PriceCents: p.PriceCents, Available: p.Stock.Available}
}

type listResponse struct {
	Items      []productResponse `json:"items"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

func handleListProducts(logger *slog.Logger, svc *service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, err := paging.Parse(r.URL.Query())
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		products, next, err := svc.List(r.Context(), page)
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		items := make([]productResponse, 0, len(products))
		for _, p := range products {
			items = append(items, toResponse(p))
		}
		web.Respond(w, http.StatusOK, listResponse{Items: items, NextCursor: next})
	})
}

func handleGetProduct(logger *slog.Logger, svc *service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := svc.Product(r.Context(), mux.Vars(r)["id"])
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		web.Respond(w, http.StatusOK, toResponse(p))
	})
}
