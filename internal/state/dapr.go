package state

import (
	"context"
	"fmt"
	"strconv"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/internal/sidecar"
)

var _ Store = (*DaprStore)(nil)

// daprState is what a DaprStore needs of the go-sdk client.
type daprState interface {
	GetState(ctx context.Context, store, key string, meta map[string]string) (*dapr.StateItem, error)
	GetBulkState(ctx context.Context, store string, keys []string, meta map[string]string, parallelism int32) ([]*dapr.BulkStateItem, error)
	ExecuteStateTransaction(ctx context.Context, store string, meta map[string]string, ops []*dapr.StateOperation) error
	SaveBulkState(ctx context.Context, store string, items ...*dapr.SetStateItem) error
	DeleteStateWithETag(ctx context.Context, store, key string, etag *dapr.ETag, meta map[string]string, opts *dapr.StateOptions) error
}

// DaprStore is a Store on a Dapr state store that supports transactions
// and ETags (every Dapr transactional store does), through the app's
// sidecar.
type DaprStore struct {
	client daprState
	store  string
}

// NewDaprStore returns a Store on the Dapr state store named store.
func NewDaprStore(client daprState, store string) *DaprStore {
	return &DaprStore{client: client, store: store}
}

// bulkParallelism bounds the reads daprd runs at once for a store that has
// no bulk read of its own (a store with one ignores it).
const bulkParallelism = 8

// Get reads keys in one call: a single read for one key (a store without a
// bulk read of its own gets no fan-out for it), a bulk read for more.
func (s *DaprStore) Get(ctx context.Context, keys ...string) (map[string]Item, error) {
	if err := checkKeys(keys, itself); err != nil {
		return nil, err
	}
	switch len(keys) {
	case 0:
		return map[string]Item{}, nil // the go-sdk refuses an empty bulk read
	case 1:
		it, err := s.client.GetState(ctx, s.store, keys[0], nil)
		if err != nil {
			return nil, sidecar.Err(err, "read state")
		}
		if it == nil || len(it.Value) == 0 {
			return map[string]Item{}, nil
		}
		return map[string]Item{keys[0]: {Value: it.Value, ETag: it.Etag}}, nil
	}
	items, err := s.client.GetBulkState(ctx, s.store, keys, nil, bulkParallelism)
	if err != nil {
		return nil, sidecar.Err(err, "read state")
	}
	out := make(map[string]Item, len(items))
	for _, it := range items {
		if it.Error != "" {
			return nil, sidecar.Err(fmt.Errorf("read %s: %s", it.Key, it.Error), "read state")
		}
		if len(it.Value) > 0 {
			out[it.Key] = Item{Value: it.Value, ETag: it.Etag}
		}
	}
	return out, nil
}

// Transact applies ops in one state transaction.
func (s *DaprStore) Transact(ctx context.Context, ops []Op) error {
	if err := checkKeys(ops, opKey); err != nil {
		return err
	}
	tx := make([]*dapr.StateOperation, 0, len(ops))
	for _, op := range ops {
		// No contentType on a transaction's writes: state.redis 1.18 then
		// uses RedisJSON whether or not the server has it
		// (docs/dapr-notes.md).
		item := setItem(op, nil)
		typ := dapr.StateOperationTypeUpsert
		if op.Delete {
			typ = dapr.StateOperationTypeDelete
			item.Value, item.Metadata = nil, nil
		}
		tx = append(tx, &dapr.StateOperation{Type: typ, Item: item})
	}
	return s.fail(s.client.ExecuteStateTransaction(ctx, s.store, nil, tx), "state transaction")
}

// Put applies one op on its own.
func (s *DaprStore) Put(ctx context.Context, op Op) error {
	if err := checkKeys([]Op{op}, opKey); err != nil {
		return err
	}
	if op.Delete {
		var etag *dapr.ETag
		var opts *dapr.StateOptions
		if op.ETag != "" {
			etag = &dapr.ETag{Value: op.ETag}
			opts = &dapr.StateOptions{Concurrency: dapr.StateConcurrencyFirstWrite}
		}
		return s.fail(s.client.DeleteStateWithETag(ctx, s.store, op.Key, etag, nil, opts), "delete state")
	}
	item := setItem(op, map[string]string{"contentType": "application/json"})
	return s.fail(s.client.SaveBulkState(ctx, s.store, item), "write state")
}

// setItem is the go-sdk's form of op, with meta as its metadata.
func setItem(op Op, meta map[string]string) *dapr.SetStateItem {
	item := &dapr.SetStateItem{Key: op.Key, Value: op.Value, Metadata: meta}
	if op.Insert || op.ETag != "" {
		item.Options = &dapr.StateOptions{Concurrency: dapr.StateConcurrencyFirstWrite}
	}
	if op.ETag != "" {
		item.Etag = &dapr.ETag{Value: op.ETag}
	}
	if op.TTL > 0 || op.Projection {
		if item.Metadata == nil {
			item.Metadata = map[string]string{}
		}
		if op.TTL > 0 {
			item.Metadata["ttlInSeconds"] = strconv.Itoa(int(ttlSeconds(op.TTL)))
		}
		if op.Projection {
			item.Metadata["outbox.projection"] = "true"
			item.Metadata["contentType"] = "application/json"
		}
	}
	return item
}

// fail reports a write that lost a race (an ETag, an insert over a record,
// or a rollback to break a lock conflict: nothing of it applied) as
// ErrConflict, anything else as the sidecar's error.
func (s *DaprStore) fail(err error, what string) error {
	if sidecar.LostRace(err) {
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	return sidecar.Err(err, "%s", what)
}
