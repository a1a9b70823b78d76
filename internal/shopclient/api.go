package shopclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// User is a registered user, as the API shows it.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

// Session is a login's answer.
type Session struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Notification is one item of a user's inbox.
type Notification struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// Product is one product of the catalog's public listing (available as
// its cache last saw it).
type Product struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Available  int64  `json:"available"`
}

// Line is one line of an order to place.
type Line struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// Order is an order as the API shows it, with its saga's steps so far.
type Order struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Status     string    `json:"status"` // pending, completed, cancelled
	Items      []Item    `json:"items"`
	TotalCents int64     `json:"total_cents"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	Reason     string    `json:"reason"`
	Steps      []Step    `json:"steps"`
}

// Item is one line of an order, priced when it was placed.
type Item struct {
	ProductID  string `json:"product_id"`
	Name       string `json:"name"`
	Quantity   int64  `json:"quantity"`
	PriceCents int64  `json:"price_cents"` // unit price
}

// Step is one step of an order's saga.
type Step struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

// Final reports whether the order's saga has ended.
func (o Order) Final() bool { return o.Status != "" && o.Status != "pending" }

// Has reports whether the saga recorded step name with status.
func (o Order) Has(name, status string) bool {
	for _, s := range o.Steps {
		if s.Name == name && s.Status == status {
			return true
		}
	}
	return false
}

// Register registers a user (201).
func (c *Client) Register(ctx context.Context, email, name, password string) (User, error) {
	var u User
	err := c.call(ctx, "register", Request{Method: http.MethodPost, Path: "/api/v1/users",
		Body: map[string]string{"email": email, "name": name, "password": password}}, http.StatusCreated, &u)
	return u, err
}

// Login opens a session (200).
func (c *Client) Login(ctx context.Context, email, password string) (Session, error) {
	var s Session
	err := c.call(ctx, "log in", Request{Method: http.MethodPost, Path: "/api/v1/sessions",
		Body: map[string]string{"email": email, "password": password}}, http.StatusOK, &s)
	if err == nil && s.Token == "" {
		err = errors.New("log in: the answer holds no token")
	}
	return s, err
}

// Wallet reads the caller's balance in cents.
func (c *Client) Wallet(ctx context.Context, token string) (int64, error) {
	var w struct {
		BalanceCents int64 `json:"balance_cents"`
	}
	err := c.call(ctx, "wallet", Request{Method: http.MethodGet, Path: "/api/v1/wallet", Token: token}, http.StatusOK, &w)
	return w.BalanceCents, err
}

// Inbox reads the caller's notifications.
func (c *Client) Inbox(ctx context.Context, token string) ([]Notification, error) {
	var page struct {
		Items []Notification `json:"items"`
	}
	err := c.call(ctx, "inbox", Request{Method: http.MethodGet, Path: "/api/v1/notifications", Token: token}, http.StatusOK, &page)
	return page.Items, err
}

// Products reads the catalog's listing: its first hundred products, which
// is the whole seeded catalog (a second page is an error: a caller that
// counts stock would miss it).
func (c *Client) Products(ctx context.Context) ([]Product, error) {
	var page struct {
		Items      []Product `json:"items"`
		NextCursor string    `json:"next_cursor"`
	}
	if err := c.call(ctx, "list products", Request{Method: http.MethodGet, Path: "/api/v1/products?limit=100"}, http.StatusOK, &page); err != nil {
		return nil, err
	}
	if page.NextCursor != "" {
		return nil, errors.New("list products: more than one page")
	}
	return page.Items, nil
}

// Recommendation is one product bought together with another, and in how
// many completed orders.
type Recommendation struct {
	ProductID string `json:"product_id"`
	Orders    int    `json:"orders"`
}

// Recommendations reads the products bought most often with productID (at
// most limit of them).
func (c *Client) Recommendations(ctx context.Context, productID string, limit int) ([]Recommendation, error) {
	var page struct {
		ProductID string           `json:"product_id"`
		Items     []Recommendation `json:"items"`
	}
	err := c.call(ctx, "recommendations for "+productID, Request{Method: http.MethodGet, Path: fmt.Sprintf("/api/v1/products/%s/recommendations?limit=%d", productID, limit)}, http.StatusOK, &page)
	if err == nil && page.ProductID != productID {
		err = fmt.Errorf("recommendations for %s: the answer is for %q", productID, page.ProductID)
	}
	return page.Items, err
}

// PlaceOrder places an order under an idempotency key (202: its saga has
// started).
func (c *Client) PlaceOrder(ctx context.Context, token, key string, lines ...Line) (Order, error) {
	var o Order
	err := c.call(ctx, "place an order", Request{Method: http.MethodPost, Path: "/api/v1/orders", Token: token,
		Body: map[string]any{"items": lines}, Header: map[string]string{"Idempotency-Key": key}}, http.StatusAccepted, &o)
	return o, err
}

// Order reads one of the caller's orders.
func (c *Client) Order(ctx context.Context, token, id string) (Order, error) {
	var o Order
	err := c.call(ctx, "read order "+id, Request{Method: http.MethodGet, Path: "/api/v1/orders/" + id, Token: token}, http.StatusOK, &o)
	return o, err
}

// AwaitFinal polls an order every poll until its saga ended or ctx is
// done. A failed read is polled through (the system may be restarting
// under a fault test); the last one is in the error.
func (c *Client) AwaitFinal(ctx context.Context, token, id string, poll time.Duration) (Order, error) {
	var last error
	for {
		o, err := c.Order(ctx, token, id)
		if err == nil && o.Final() {
			return o, nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return o, fmt.Errorf("order %s not final: %w (last read: %v)", id, ctx.Err(), last)
			}
			return o, fmt.Errorf("order %s not final (%s): %w", id, o.Status, ctx.Err())
		case <-time.After(poll):
		}
	}
}
