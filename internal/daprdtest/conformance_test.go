package daprdtest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/daprdtest"
)

// conformanceEnv lists the store kinds TestStateStoreConformance judges,
// comma-separated: sqlite alone by default (make test), all three in
// `make test-redis`.
const conformanceEnv = "DAPRSHOP_CONFORMANCE"

// stockRedisBreaks are the cases Dapr's state.redis (components-contrib
// v1.18.3, what daprd 1.18.2 runs) is known to fail: its transactions are
// MULTI, one script per operation, EXEC, so a failed check leaves the other
// operations applied, first-write is not honoured inside a transaction, and
// an ETag on a missing key passes. The suite requires them to fail there,
// so that a components-contrib that fixes them is noticed (and
// docs/dapr-notes.md re-judged).
var stockRedisBreaks = map[string]bool{
	"insert over an existing key applies nothing": true,
	"stale etag on one operation applies nothing": true,
	"etag for a missing key is a conflict":        true,
	"stale etag delete applies nothing":           true,
	"ttl of a failed transaction is not set":      true,
}

// conformanceCase checks one rule of Dapr's state store contract through a
// real daprd, and reports each breach of it. Errors that are not the
// rule's (daprd unreachable, say) fail the test at once.
type conformanceCase struct {
	name string
	run  func(t *testing.T, s *subject, v *breaches)
}

// subject is the store under test, through its sidecar.
type subject struct {
	c     dapr.Client
	store string
	kind  string
	key   func(string) string
}

// breaches collects what a case saw go against the contract.
type breaches struct{ list []string }

func (b *breaches) expect(ok bool, format string, args ...any) {
	if !ok {
		b.list = append(b.list, fmt.Sprintf(format, args...))
	}
}

func TestStateStoreConformance(t *testing.T) {
	kinds := strings.Split(os.Getenv(conformanceEnv), ",")
	if kinds[0] == "" {
		kinds = []string{daprdtest.SQLite}
	}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			sc := daprdtest.Start(t, "conformance", daprdtest.StateStoreOf(kind, "store"))
			for _, tc := range conformanceCases {
				t.Run(tc.name, func(t *testing.T) {
					s := &subject{c: sc.Client, store: "store", kind: kind, key: func(k string) string {
						return strings.ReplaceAll(tc.name, " ", "-") + "-" + k
					}}
					var b breaches
					tc.run(t, s, &b)
					if kind == daprdtest.StockRedis && stockRedisBreaks[tc.name] {
						assert.NotEmpty(t, b.list, "stock state.redis now keeps this rule: re-judge docs/dapr-notes.md and stockRedisBreaks")
						t.Logf("stock state.redis breaks the rule, as known: %s", strings.Join(b.list, "; "))
						return
					}
					if kind == daprdtest.StockRedis && len(b.list) > 0 {
						t.Logf("stock state.redis also breaks: %s", strings.Join(b.list, "; "))
						return
					}
					assert.Empty(t, b.list)
				})
			}
		})
	}
}

var conformanceCases = []conformanceCase{
	{"insert over an existing key applies nothing", func(t *testing.T, s *subject, v *breaches) {
		s.set(t, "a", "old")
		err := s.tx(t, upsert(s.key("b"), "new", ""), insert(s.key("a"), "new"))
		v.expect(err != nil, "the transaction succeeded")
		v.expect(s.value(t, "a") == "old", "the existing key was overwritten: %q", s.value(t, "a"))
		v.expect(!s.exists(t, "b"), "the other operation was applied")
		v.expect(s.c.SaveState(ctx(t), s.store, s.key("a"), []byte("x"), nil, firstWrite) != nil,
			"a single first-write over an existing key succeeded")
	}},
	{"stale etag on one operation applies nothing", func(t *testing.T, s *subject, v *breaches) {
		for _, k := range []string{"a", "b", "c"} {
			s.set(t, k, "0")
		}
		ea, eb, ec := s.etag(t, "a"), s.etag(t, "b"), s.etag(t, "c")
		s.set(t, "b", "moved") // eb is stale now
		err := s.tx(t, upsert(s.key("a"), "1", ea), upsert(s.key("b"), "1", eb), upsert(s.key("c"), "1", ec))
		v.expect(err != nil, "the transaction succeeded")
		v.expect(s.value(t, "a") == "0", "operation 1 was applied: %q", s.value(t, "a"))
		v.expect(s.value(t, "b") == "moved", "operation 2 was applied: %q", s.value(t, "b"))
		v.expect(s.value(t, "c") == "0", "operation 3 was applied: %q", s.value(t, "c"))
	}},
	{"etag for a missing key is a conflict", func(t *testing.T, s *subject, v *breaches) {
		s.set(t, "seen", "x")
		etag := s.etag(t, "seen") // an ETag the store could have given
		err := s.c.SaveStateWithETag(ctx(t), s.store, s.key("missing"), []byte("x"), etag, nil)
		v.expect(err != nil, "a single write with an ETag created a missing key")
		v.expect(!s.exists(t, "missing"), "the missing key exists now")
		err = s.tx(t, upsert(s.key("other"), "x", ""), upsert(s.key("missing2"), "x", etag))
		v.expect(err != nil, "a transaction with an ETag on a missing key succeeded")
		v.expect(!s.exists(t, "other") && !s.exists(t, "missing2"), "the transaction wrote")
	}},
	{"stale etag delete applies nothing", func(t *testing.T, s *subject, v *breaches) {
		s.set(t, "a", "0")
		s.set(t, "b", "0")
		ea, eb := s.etag(t, "a"), s.etag(t, "b")
		s.set(t, "b", "moved")
		err := s.tx(t, upsert(s.key("a"), "1", ea), del(s.key("b"), eb))
		v.expect(err != nil, "the transaction succeeded")
		v.expect(s.value(t, "a") == "0", "the set was applied: %q", s.value(t, "a"))
		v.expect(s.exists(t, "b"), "the stale delete was applied")
		err = s.c.DeleteStateWithETag(ctx(t), s.store, s.key("b"), &dapr.ETag{Value: eb}, nil, nil)
		v.expect(err != nil && s.exists(t, "b"), "a single delete with a stale ETag deleted")
	}},
	{"ttl of a failed transaction is not set", func(t *testing.T, s *subject, v *breaches) {
		s.set(t, "a", "0")
		s.set(t, "b", "0")
		ea, eb := s.etag(t, "a"), s.etag(t, "b")
		s.set(t, "b", "moved")
		withTTL := upsert(s.key("a"), "1", ea)
		withTTL.Item.Metadata = map[string]string{"ttlInSeconds": "3600"}
		err := s.tx(t, withTTL, upsert(s.key("b"), "1", eb))
		v.expect(err != nil, "the transaction succeeded")
		it := s.get(t, "a")
		v.expect(it.Metadata["ttlExpireTime"] == "", "the failed transaction set a TTL: expires %s", it.Metadata["ttlExpireTime"])
		// The positive control: a TTL that is applied shows (else the check
		// above could not tell).
		withTTL.Item.Etag = &dapr.ETag{Value: s.etag(t, "a")}
		require.NoError(t, s.tx(t, withTTL))
		v.expect(s.get(t, "a").Metadata["ttlExpireTime"] != "", "a TTL set by a transaction does not show in a read")
	}},
	{"racing transfers conserve the sum", func(t *testing.T, s *subject, v *breaches) {
		const accounts, start, transfers = 5, 100, 50
		for i := range accounts {
			s.set(t, strconv.Itoa(i), strconv.Itoa(start))
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		done := 0
		for range transfers {
			wg.Go(func() {
				from := rand.IntN(accounts)
				to := (from + 1 + rand.IntN(accounts-1)) % accounts
				for range 50 { // a lost race reads again
					a, b := s.get(t, strconv.Itoa(from)), s.get(t, strconv.Itoa(to))
					na, _ := strconv.Atoi(string(a.Value))
					nb, _ := strconv.Atoi(string(b.Value))
					err := s.c.ExecuteStateTransaction(ctx(t), s.store, nil, []*dapr.StateOperation{
						upsert(a.Key, strconv.Itoa(na-1), a.Etag), upsert(b.Key, strconv.Itoa(nb+1), b.Etag),
					})
					if err == nil {
						mu.Lock()
						done++
						mu.Unlock()
						return
					}
				}
			})
		}
		wg.Wait()
		sum := 0
		for i := range accounts {
			n, err := strconv.Atoi(s.value(t, strconv.Itoa(i)))
			require.NoError(t, err)
			sum += n
		}
		require.Positive(t, done, "no transfer went through: the sum proves nothing")
		v.expect(sum == accounts*start, "%d transfers went through and the sum is %d, not %d", done, sum, accounts*start)
	}},
}

var firstWrite = func(o *dapr.StateOptions) { o.Concurrency = dapr.StateConcurrencyFirstWrite }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func (s *subject) set(t *testing.T, k, value string) {
	t.Helper()
	require.NoError(t, s.c.SaveState(ctx(t), s.store, s.key(k), []byte(value), nil))
}

func (s *subject) get(t *testing.T, k string) *dapr.StateItem {
	t.Helper()
	key := k
	if !strings.HasPrefix(k, s.key("")) {
		key = s.key(k)
	}
	it, err := s.c.GetState(ctx(t), s.store, key, nil)
	require.NoError(t, err)
	return it
}

func (s *subject) exists(t *testing.T, k string) bool  { return s.get(t, k).Value != nil }
func (s *subject) value(t *testing.T, k string) string { return string(s.get(t, k).Value) }

func (s *subject) etag(t *testing.T, k string) string {
	t.Helper()
	e := s.get(t, k).Etag
	require.NotEmpty(t, e, "no ETag for %s", k)
	return e
}

// tx runs a transaction and returns its error, which a case judges.
func (s *subject) tx(t *testing.T, ops ...*dapr.StateOperation) error {
	return s.c.ExecuteStateTransaction(ctx(t), s.store, nil, ops)
}

func upsert(key, value, etag string) *dapr.StateOperation {
	it := &dapr.SetStateItem{Key: key, Value: []byte(value)}
	if etag != "" {
		it.Etag = &dapr.ETag{Value: etag}
	}
	return &dapr.StateOperation{Type: dapr.StateOperationTypeUpsert, Item: it}
}

func insert(key, value string) *dapr.StateOperation {
	op := upsert(key, value, "")
	op.Item.Options = &dapr.StateOptions{Concurrency: dapr.StateConcurrencyFirstWrite}
	return op
}

func del(key, etag string) *dapr.StateOperation {
	return &dapr.StateOperation{Type: dapr.StateOperationTypeDelete, Item: &dapr.SetStateItem{Key: key, Etag: &dapr.ETag{Value: etag}}}
}
