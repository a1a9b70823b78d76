package paging

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		query     string
		want      Page
		wantField string
	}{
		{"defaults", "", Page{Limit: DefaultLimit}, ""},
		{"limit", "limit=5", Page{Limit: 5}, ""},
		{"largest limit", "limit=100", Page{Limit: 100}, ""},
		{"cursor", "cursor=" + Cursor("b"), Page{Limit: DefaultLimit, After: "b"}, ""},
		{"zero limit", "limit=0", Page{}, "limit"},
		{"negative limit", "limit=-1", Page{}, "limit"},
		{"absurd limit", "limit=1000000000000000000000", Page{}, "limit"},
		{"limit over max", "limit=101", Page{}, "limit"},
		{"limit not a number", "limit=ten", Page{}, "limit"},
		{"empty limit", "limit=", Page{}, "limit"},
		{"limit twice", "limit=1&limit=2", Page{}, "limit"},
		{"cursor not base64", "cursor=%%%", Page{}, "cursor"},
		{"cursor without prefix", "cursor=" + "YWJj", Page{}, "cursor"},
		{"empty cursor", "cursor=", Page{}, "cursor"},
		{"huge cursor", "cursor=" + strings.Repeat("A", 600), Page{}, "cursor"},
		{"cursor twice", "cursor=" + Cursor("a") + "&cursor=" + Cursor("b"), Page{}, "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				q = url.Values{"cursor": {"%%%"}}
			}
			got, err := Parse(q)
			if tt.wantField == "" {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
				return
			}
			var e *apperr.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, apperr.Invalid, e.Kind)
			require.Len(t, e.Fields, 1)
			assert.Equal(t, tt.wantField, e.Fields[0].Field)
		})
	}
}

func TestSliceWalksEveryKeyOnce(t *testing.T) {
	t.Parallel()
	keys := []string{"a", "b", "c", "d", "e"}
	tests := []struct {
		limit int
		pages [][]string
	}{
		{1, [][]string{{"a"}, {"b"}, {"c"}, {"d"}, {"e"}}},
		{2, [][]string{{"a", "b"}, {"c", "d"}, {"e"}}},
		{5, [][]string{{"a", "b", "c", "d", "e"}}},
		{9, [][]string{{"a", "b", "c", "d", "e"}}},
	}
	for _, tt := range tests {
		var got [][]string
		p := Page{Limit: tt.limit}
		for {
			page, next := Slice(keys, p)
			got = append(got, page)
			if next == "" {
				break
			}
			var err error
			p, err = Parse(url.Values{"cursor": {next}, "limit": {"1"}})
			require.NoError(t, err)
			p.Limit = tt.limit
		}
		assert.Equal(t, tt.pages, got, "limit %d", tt.limit)
	}
}

func TestSliceAfterADeletedKey(t *testing.T) {
	t.Parallel()
	page, next := Slice([]string{"a", "c", "d"}, Page{Limit: 1, After: "b"})
	assert.Equal(t, []string{"c"}, page)
	assert.Equal(t, Cursor("c"), next)
	page, next = Slice([]string{"a"}, Page{Limit: 3, After: "z"})
	assert.Empty(t, page)
	assert.Empty(t, next)
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "limit=5", "limit=0", "cursor=" + Cursor("sku-1"), "cursor=%zz", "limit=1&limit=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, err := Parse(q)
		if err != nil {
			if !apperr.Is(err, apperr.Invalid) {
				t.Fatalf("Parse(%q) = %v, want an Invalid error", raw, err)
			}
			return
		}
		if p.Limit < 1 || p.Limit > MaxLimit {
			t.Fatalf("Parse(%q) limit %d out of range", raw, p.Limit)
		}
		if p.After != "" && Cursor(p.After) != q.Get("cursor") {
			t.Fatalf("cursor %q does not round-trip", q.Get("cursor"))
		}
	})
}
