package main

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/web"
)

// tryRequest is the body of a try: the lines to reserve.
type tryRequest struct {
	Items []Line `json:"items"`
}

// Validate checks the lines, naming every offending field.
func (req tryRequest) Validate() error { return validateLines(req.Items) }

// reservationResponse is a reservation as the saga sees it.
type reservationResponse struct {
	OrderID   string            `json:"order_id"`
	Status    ReservationStatus `json:"status"`
	Items     []Line            `json:"items"`
	ExpiresAt time.Time         `json:"expires_at"`
}

func toReservationResponse(res Reservation) reservationResponse {
	return reservationResponse{OrderID: res.OrderID, Status: res.Status, Items: res.Items, ExpiresAt: res.ExpiresAt.UTC()}
}

func handleTryReservation(logger *slog.Logger, res *reservations) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		orderID := mux.Vars(r)["order"]
		if err := checkOrderID(orderID); err != nil {
			web.Error(w, r, logger, err)
			return
		}
		var req tryRequest
		if err := web.Decode(w, r, &req); err != nil {
			web.Error(w, r, logger, err)
			return
		}
		got, err := res.Try(r.Context(), orderID, req.Items)
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		web.Respond(w, http.StatusOK, toReservationResponse(got))
	})
}

// settleRequest is the optional body of a confirm or a cancel: the
// products the caller knows the reservation holds (the saga knows its
// order's lines). They are read in the same round trip as the reservation
// instead of after it; a list that misses one, or names one the
// reservation does not hold, costs a read and changes nothing else.
type settleRequest struct {
	Products []string `json:"products"`
}

// Validate checks the list: at most maxLines ids, each a valid product id.
func (req settleRequest) Validate() error {
	if len(req.Products) > maxLines {
		return apperr.InvalidFields(apperr.FieldError{Field: "products", Detail: fmt.Sprintf("must hold at most %d ids", maxLines)})
	}
	var fields []apperr.FieldError
	for i, id := range req.Products {
		if !validID(id) {
			fields = append(fields, apperr.FieldError{Field: fmt.Sprintf("products[%d]", i), Detail: fmt.Sprintf("must be a lower-case slug such as espresso-beans-1kg, at most %d bytes", maxIDLen)})
		}
	}
	if len(fields) > 0 {
		return apperr.InvalidFields(fields...)
	}
	return nil
}

// handleSettleReservation serves confirm and cancel. Their body is
// optional (settleRequest): none, {} or the products.
func handleSettleReservation(logger *slog.Logger, settle func(r *http.Request, orderID string, products []string) (settled, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req settleRequest
		// No body at all is as {}: a call through a sidecar without one
		// may come chunked, with no length to tell.
		body := bufio.NewReader(r.Body)
		if _, err := body.Peek(1); err != io.EOF {
			r.Body = struct {
				io.Reader
				io.Closer
			}{body, r.Body}
			if err := web.Decode(w, r, &req); err != nil {
				web.Error(w, r, logger, err)
				return
			}
		}
		out, err := settle(r, mux.Vars(r)["order"], req.Products)
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		web.Respond(w, http.StatusOK, out)
	})
}

func handleConfirmReservation(logger *slog.Logger, res *reservations) http.Handler {
	return handleSettleReservation(logger, func(r *http.Request, orderID string, products []string) (settled, error) {
		return res.Confirm(r.Context(), orderID, products...)
	})
}

func handleCancelReservation(logger *slog.Logger, res *reservations) http.Handler {
	return handleSettleReservation(logger, func(r *http.Request, orderID string, products []string) (settled, error) {
		return res.Cancel(r.Context(), orderID, products...)
	})
}

func handleGetReservation(logger *slog.Logger, res *reservations) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, err := res.Reservation(r.Context(), mux.Vars(r)["order"])
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		web.Respond(w, http.StatusOK, toReservationResponse(got))
	})
}

type reservationListResponse struct {
	Items []reservationResponse `json:"items"`
}

// handleListReservations lists the reservations that hold stock
// (?status=reserved, the one status it lists): after every saga has ended,
// there are none.
func handleListReservations(logger *slog.Logger, res *reservations) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status := r.URL.Query().Get("status"); status != string(StatusReserved) {
			web.Error(w, r, logger, apperr.InvalidFields(apperr.FieldError{Field: "status", Detail: "must be reserved, the one status listed"}))
			return
		}
		held, err := res.Held(r.Context())
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		items := make([]reservationResponse, len(held))
		for i, h := range held {
			items[i] = toReservationResponse(h)
		}
		web.Respond(w, http.StatusOK, reservationListResponse{Items: items})
	})
}

// stockResponse is where a product's units are: available + reserved +
// sold is the product's constant total.
type stockResponse struct {
	ID        string `json:"id"`
	Available int64  `json:"available"`
	Reserved  int64  `json:"reserved"`
	Sold      int64  `json:"sold"`
}

type stockListResponse struct {
	Items []stockResponse `json:"items"`
}

func handleListStock(logger *slog.Logger, res *reservations) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		levels, err := res.Stock(r.Context())
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		items := make([]stockResponse, len(levels))
		for i, l := range levels {
			items[i] = stockResponse{ID: l.ID, Available: l.Available, Reserved: l.Reserved, Sold: l.Sold}
		}
		web.Respond(w, http.StatusOK, stockListResponse{Items: items})
	})
}
