package apperr_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/daprshop/daprshop/internal/apperr"
)

func TestKindOf(t *testing.T) {
	t.Parallel()
	cause := errors.New("disk on fire")
	tests := []struct {
		name string
		err  error
		want apperr.Kind
	}{
		{"plain error is internal", cause, apperr.Internal},
		{"kind kept", apperr.E(apperr.NotFound, "user %s not found", "u1"), apperr.NotFound},
		{"kind found through wrapping", fmt.Errorf("get user: %w", apperr.Wrap(apperr.Unavailable, cause, "store down")), apperr.Unavailable},
		{"field errors are invalid", apperr.InvalidFields(apperr.FieldError{Field: "email", Detail: "required"}), apperr.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, apperr.KindOf(tt.err))
		})
	}
}

func TestErrorKeepsCause(t *testing.T) {
	t.Parallel()
	cause := errors.New("connection refused")
	err := apperr.Wrap(apperr.Unavailable, cause, "state store unavailable")
	assert.ErrorIs(t, err, cause)
	assert.True(t, apperr.Is(err, apperr.Unavailable))
	assert.Equal(t, `field "email": required`, apperr.InvalidFields(apperr.FieldError{Field: "email", Detail: "required"}).Msg)
}
