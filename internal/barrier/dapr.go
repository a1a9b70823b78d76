package barrier

import (
	"context"
	"fmt"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/internal/sidecar"
)

var _ Store = (*DaprStore)(nil)

// DaprStore is a Store on a Dapr state store that supports transactions
// and ETags (every Dapr transactional store does).
type DaprStore struct {
	client dapr.Client
	store  string
}

// NewDaprStore returns a Store on the Dapr state store named store.
func NewDaprStore(client dapr.Client, store string) *DaprStore {
	return &DaprStore{client: client, store: store}
}

// Get reads keys in one bulk call.
func (s *DaprStore) Get(ctx context.Context, keys ...string) (map[string]Item, error) {
	items, err := s.client.GetBulkState(ctx, s.store, keys, nil, 0)
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
	tx := make([]*dapr.StateOperation, 0, len(ops))
	for _, op := range ops {
		// No contentType: on a transaction's writes state.redis 1.18 then
		// uses RedisJSON whether or not the server has it.
		item := &dapr.SetStateItem{Key: op.Key, Value: op.Value}
		if op.Insert || op.ETag != "" {
			item.Options = &dapr.StateOptions{Concurrency: dapr.StateConcurrencyFirstWrite}
		}
		if op.ETag != "" {
			item.Etag = &dapr.ETag{Value: op.ETag}
		}
		typ := dapr.StateOperationTypeUpsert
		if op.Delete {
			typ = dapr.StateOperationTypeDelete
			item.Value, item.Metadata = nil, nil
		}
		tx = append(tx, &dapr.StateOperation{Type: typ, Item: item})
	}
	err := s.client.ExecuteStateTransaction(ctx, s.store, nil, tx)
	// A transaction the database rolled back to break a lock conflict lost
	// a race as surely as one whose ETag failed: nothing of it applied, and
	// the barrier runs it again on fresh reads.
	if sidecar.LostRace(err) {
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	return sidecar.Err(err, "state transaction")
}
