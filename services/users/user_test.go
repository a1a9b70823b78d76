package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
)

func TestRegisterRequestValidate(t *testing.T) {
	t.Parallel()
	// 64 + 1 + 185 + 4 = 254 bytes: the longest address allowed.
	longestEmail := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com"
	require.Len(t, longestEmail, 254)
	const pw = "correct horse battery"
	tests := []struct {
		name       string
		req        RegisterRequest
		wantFields []apperr.FieldError
	}{
		{"valid", RegisterRequest{Email: "ada@example.com", Name: "Ada Lovelace", Password: pw}, nil},
		{"surrounding spaces are trimmed", RegisterRequest{Email: "  ada@example.com\t", Name: "  Ada  ", Password: pw}, nil},
		{"upper case email", RegisterRequest{Email: "Ada@Example.COM", Name: "Ada", Password: pw}, nil},
		{"plus and subdomain", RegisterRequest{Email: "ada+shop@mail.example.co.uk", Name: "Ada", Password: pw}, nil},
		{"longest email", RegisterRequest{Email: longestEmail, Name: "Ada", Password: pw}, nil},
		{"100 multi-byte runes", RegisterRequest{Email: "ada@example.com", Name: strings.Repeat("é", 100), Password: pw}, nil},
		{"non-latin name", RegisterRequest{Email: "ada@example.com", Name: "Ада Лавлейс", Password: pw}, nil},
		{"empty email", RegisterRequest{Name: "Ada", Password: pw}, []apperr.FieldError{{Field: "email", Detail: "required"}}},
		{"blank email", RegisterRequest{Email: " \t ", Name: "Ada", Password: pw}, []apperr.FieldError{{Field: "email", Detail: "required"}}},
		{"email too long", RegisterRequest{Email: "a" + longestEmail, Name: "Ada", Password: pw}, []apperr.FieldError{{Field: "email", Detail: "longer than 254 characters"}}},
		{"no at sign", RegisterRequest{Email: "ada.example.com", Name: "Ada", Password: pw}, []apperr.FieldError{{Field: "email", Detail: "not a valid address like name@example.com"}}},
		{"no dot in domain", RegisterRequest{Email: "ada@localhost", Name: "Ada", Password: pw}, []apperr.FieldError{{Field: "email", Detail: "not a valid address like name@example.com"}}},
		{"display name", RegisterRequest{Email: "Ada <ada@example.com>", Name: "Ada", Password: pw}, []apperr.FieldError{{Field: "email", Detail: "not a valid address like name@example.com"}}},
		{"two addresses", RegisterRequest{Email: "ada@example.com, bob@example.com", Name: "Ada", Password: pw}, []apperr.FieldError{{Field: "email", Detail: "not a valid address like name@example.com"}}},
		{"space inside", RegisterRequest{Email: "ada lovelace@example.com", Name: "Ada", Password: pw}, []apperr.FieldError{{Field: "email", Detail: "not a valid address like name@example.com"}}},
		{"empty name", RegisterRequest{Email: "ada@example.com", Password: pw}, []apperr.FieldError{{Field: "name", Detail: "required"}}},
		{"blank name", RegisterRequest{Email: "ada@example.com", Name: "\n\t ", Password: pw}, []apperr.FieldError{{Field: "name", Detail: "required"}}},
		{"101 runes", RegisterRequest{Email: "ada@example.com", Name: strings.Repeat("é", 101), Password: pw}, []apperr.FieldError{{Field: "name", Detail: "at most 100 characters of valid UTF-8"}}},
		{"invalid UTF-8", RegisterRequest{Email: "ada@example.com", Name: "Ada\xff", Password: pw}, []apperr.FieldError{{Field: "name", Detail: "at most 100 characters of valid UTF-8"}}},
		{"NUL inside", RegisterRequest{Email: "ada@example.com", Name: "Ada\x00Lovelace", Password: pw}, []apperr.FieldError{{Field: "name", Detail: "must not contain control characters"}}},
		{"newline inside", RegisterRequest{Email: "ada@example.com", Name: "Ada\nLovelace", Password: pw}, []apperr.FieldError{{Field: "name", Detail: "must not contain control characters"}}},
		{"12-character password", RegisterRequest{Email: "ada@example.com", Name: "Ada", Password: "abcdefghijkl"}, nil},
		{"12 multi-byte characters", RegisterRequest{Email: "ada@example.com", Name: "Ada", Password: strings.Repeat("ü", 12)}, nil},
		{"72-byte password", RegisterRequest{Email: "ada@example.com", Name: "Ada", Password: strings.Repeat("p", 72)}, nil},
		{"no password", RegisterRequest{Email: "ada@example.com", Name: "Ada"}, []apperr.FieldError{{Field: "password", Detail: "required"}}},
		{"11-character password", RegisterRequest{Email: "ada@example.com", Name: "Ada", Password: "abcdefghijk"}, []apperr.FieldError{{Field: "password", Detail: "at least 12 characters"}}},
		{"73-byte password, which bcrypt would cut", RegisterRequest{Email: "ada@example.com", Name: "Ada", Password: strings.Repeat("p", 73)}, []apperr.FieldError{{Field: "password", Detail: "at most 72 bytes"}}},
		{
			"every field at once", RegisterRequest{Email: "nope", Name: "", Password: "short"},
			[]apperr.FieldError{{Field: "email", Detail: "not a valid address like name@example.com"}, {Field: "name", Detail: "required"}, {Field: "password", Detail: "at least 12 characters"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.req.Validate()

			if tt.wantFields == nil {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, apperr.Invalid, apperr.KindOf(err))
			var ae *apperr.Error
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.wantFields, ae.Fields)
		})
	}
}
