package main

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/daprshop/daprshop/internal/web"
)

// userResponse is the public shape of a user.
type userResponse struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

func toResponse(u User) userResponse {
	return userResponse{ID: u.ID, Email: u.Email, Name: u.Name, CreatedAt: u.CreatedAt}
}

func handleRegisterUser(logger *slog.Logger, svc *service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req RegisterRequest
		if err := web.Decode(w, r, &req); err != nil {
			web.Error(w, r, logger, err)
			return
		}
		u, err := svc.Register(r.Context(), req)
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		logger.InfoContext(r.Context(), "user registered", "user_id", u.ID)
		web.Respond(w, http.StatusCreated, toResponse(u))
	})
}

func handleCreateSession(logger *slog.Logger, svc *service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req LoginRequest
		if err := web.Decode(w, r, &req); err != nil {
			web.Error(w, r, logger, err)
			return
		}
		sess, err := svc.Login(r.Context(), req)
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		web.Respond(w, http.StatusOK, sess)
	})
}

func handleGetUser(logger *slog.Logger, svc *service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := svc.Get(r.Context(), mux.Vars(r)["id"])
		if err != nil {
			web.Error(w, r, logger, err)
			return
		}
		web.Respond(w, http.StatusOK, toResponse(u))
	})
}
