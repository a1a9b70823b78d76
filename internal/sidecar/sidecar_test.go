package sidecar_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/daprdtest"
	"github.com/daprshop/daprshop/internal/sidecar"
)

func TestErrClassifiesSidecarFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want apperr.Kind
	}{
		{"sidecar down", status.Error(codes.Unavailable, "connection refused"), apperr.Unavailable},
		{"deadline", status.Error(codes.DeadlineExceeded, "slow"), apperr.Unavailable},
		{"store failure behind the sidecar", status.Error(codes.Internal, "database is locked"), apperr.Unavailable},
		{"not a gRPC error", errors.New("boom"), apperr.Unavailable},
		{"our malformed request", status.Error(codes.InvalidArgument, "bad key"), apperr.Internal},
		{"wrong token", status.Error(codes.Unauthenticated, "bad token"), apperr.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := sidecar.Err(tt.err, "save thing")
			assert.Equal(t, tt.want, apperr.KindOf(err))
			assert.ErrorIs(t, err, tt.err)
		})
	}
	assert.NoError(t, sidecar.Err(nil, "nothing"))
}

func TestIsETagMismatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"single save", status.Error(codes.Aborted, "failed saving state"), true},
		{"transaction", status.Error(codes.Internal, "error while executing state transaction: possible etag mismatch. error from state store: <nil>"), true},
		{"wrapped", fmt.Errorf("save: %w", status.Error(codes.Aborted, "x")), true},
		{"redis set script", status.Error(codes.Internal, "error while executing state transaction: ERR user_script:14: failed to set key orders||idem-1 script: d908, on @user_script:14."), true},
		{"redis delete script", status.Error(codes.Internal, "failed deleting state with key orders||idem-1: ERR user_script:6: failed to delete orders||idem-1 script: 1f2e"), true},
		{"postgres first-write", status.Error(codes.Internal, "failed saving state in state store orders-store: no item was updated"), true},
		{"mysql first-write race", status.Error(codes.Internal, "error while executing state transaction: Error 1062 (23000): Duplicate entry 'orders||order-da08cf7e' for key 'PRIMARY'"), true},
		{"mysql deadlock", status.Error(codes.Internal, "error while executing state transaction: Error 1213 (40001): Deadlock found when trying to get lock; try restarting transaction"), false},
		{"other failure", status.Error(codes.Internal, "database is locked"), false},
		{"redis without its JSON module", status.Error(codes.Internal, "ERR Unknown Redis command called from script"), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, sidecar.IsETagMismatch(tt.err))
		})
	}
}

func TestIsRolledBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"mysql deadlock", status.Error(codes.Internal, "error while executing state transaction: Error 1213 (40001): Deadlock found when trying to get lock; try restarting transaction"), true},
		{"mysql lock wait", status.Error(codes.Internal, "Error 1205 (HY000): Lock wait timeout exceeded; try restarting transaction"), true},
		{"mariadb deadlock victim in INSERT ... SELECT", status.Error(codes.Internal, "error while executing state transaction: Error 1467 (HY000): Failed to read auto-increment value from storage engine"), true},
		{"postgres serialization", status.Error(codes.Internal, "ERROR: could not serialize access due to concurrent update (SQLSTATE 40001)"), true},
		{"postgres deadlock", status.Error(codes.Internal, "ERROR: deadlock detected (SQLSTATE 40P01)"), true},
		{"wrapped", fmt.Errorf("save: %w", status.Error(codes.Internal, "Error 1213 (40001): Deadlock found")), true},
		{"etag mismatch", status.Error(codes.Aborted, "possible etag mismatch"), false},
		{"mysql first-write race", status.Error(codes.Internal, "Error 1062 (23000): Duplicate entry 'k' for key 'PRIMARY'"), false},
		{"store down", status.Error(codes.Internal, "dial tcp 127.0.0.1:3306: connect: connection refused"), false},
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, sidecar.IsRolledBack(tc.err))
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DAPR_HTTP_PORT": "3501", "DAPR_GRPC_PORT": "50101", "DAPR_API_TOKEN": "tok"}
	c := sidecar.ConfigFromEnv(func(k string) string { return env[k] })
	assert.Equal(t, sidecar.Config{Host: "127.0.0.1", HTTPPort: "3501", GRPCPort: "50101", APIToken: "tok"}, c)
	assert.Equal(t, "http://127.0.0.1:3501", c.HTTPBase())
	d := sidecar.ConfigFromEnv(func(string) string { return "" })
	assert.Equal(t, sidecar.Config{Host: "127.0.0.1", HTTPPort: "3500", GRPCPort: "50001"}, d)
}

const memoryStore = `
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: store
spec:
  type: state.in-memory
  version: v1
`

// The token travels on every call; without it, daprd refuses the call.
func TestDialSendsTheToken(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real daprd")
	}
	t.Parallel()
	sc := daprdtest.Start(t, "sidecar-test", memoryStore)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	require.NoError(t, sc.Client.SaveState(ctx, "store", "k", []byte("v"), nil))
	item, err := sc.Client.GetState(ctx, "store", "k", nil)
	require.NoError(t, err)
	assert.Equal(t, "v", string(item.Value))

	wrong := sc.Config
	wrong.APIToken = "not-the-token"
	c, err := sidecar.Dial(wrong)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.GetState(ctx, "store", "k", nil)
	assert.Equal(t, codes.Unauthenticated, status.Code(err))

	ready := sidecar.NewChecker(sc.Config, sidecar.NewHTTPClient(time.Second))
	assert.NoError(t, ready.Ready(ctx))
}

// An app may start before its sidecar: Dial does not wait, and calls fail
// as Unavailable (503, retryable) while the sidecar is away. That they work
// once it is back is shown end to end (tests/, sidecars restarted).
func TestDialDoesNotWaitForTheSidecar(t *testing.T) {
	t.Parallel()
	c, err := sidecar.Dial(sidecar.Config{Host: "127.0.0.1", HTTPPort: "1", GRPCPort: "1"})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = c.GetState(ctx, "store", "k", nil)
	assert.True(t, apperr.Is(sidecar.Err(err, "read"), apperr.Unavailable), "got %v", err)

	ready := sidecar.NewChecker(sidecar.Config{Host: "127.0.0.1", HTTPPort: "1"}, &http.Client{Timeout: time.Second})
	assert.Error(t, ready.Ready(ctx))
}

func TestSecretIsReadThroughTheSidecar(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real daprd")
	}
	t.Parallel()
	sc := daprdtest.StartWithEnv(t, "secret-test", []string{"DAPRDTEST_SECRET=s3cr3t-from-the-environment"}, `
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: secretstore
spec:
  type: secretstores.local.env
  version: v1
`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	got, err := sidecar.NewSecret(sc.Client, "secretstore", "DAPRDTEST_SECRET", time.Minute, time.Now).Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, "s3cr3t-from-the-environment", string(got))

	_, err = sidecar.NewSecret(sc.Client, "secretstore", "NO_SUCH_SECRET_ANYWHERE", time.Minute, time.Now).Get(ctx)
	assert.True(t, apperr.Is(err, apperr.Unavailable), "got %v", err)

	noToken := sc.Config
	noToken.APIToken = ""
	c, err := sidecar.Dial(noToken)
	require.NoError(t, err)
	defer c.Close()
	_, err = sidecar.NewSecret(c, "secretstore", "DAPRDTEST_SECRET", time.Minute, time.Now).Get(ctx)
	assert.True(t, apperr.Is(err, apperr.Unavailable), "refused without the token: %v", err)
}
