package main

import (
	"testing"

	pb "github.com/dapr/dapr/pkg/proto/components/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]string
		want  config
		fails bool
	}{
		{"host and database", map[string]string{"redisHost": "127.0.0.1:6379", "redisDB": "3"}, config{Host: "127.0.0.1:6379", DB: 3}, false},
		{"names in any case, daprd's own ignored", map[string]string{"REDISHOST": "h:1", "redisPassword": "p", "actorStateStore": "true"}, config{Host: "h:1", Password: "p"}, false},
		{"no host", map[string]string{"redisDB": "3"}, config{}, true},
		{"a database that is no number", map[string]string{"redisHost": "h:1", "redisDB": "three"}, config{}, true},
		{"TLS", map[string]string{"redisHost": "h:1", "enableTLS": "true"}, config{Host: "h:1", TLS: true}, false},
		{"TLS neither true nor false", map[string]string{"redisHost": "h:1", "enableTLS": "yes"}, config{}, true},
		{"Sentinel refused, not ignored", map[string]string{"redisHost": "h:1", "failover": "true"}, config{}, true},
		{"a cluster refused", map[string]string{"redisHost": "h:1", "redisType": "cluster"}, config{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseConfig(tc.props)
			if tc.fails {
				require.Error(t, err, "parsed as %+v", got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestWriteRefusesBadOperations checks what daprd is told about an
// operation this store cannot run: an ETag error only for a bad ETag (daprd
// reads a BadRequest with one violation of the field "etag" as one), a
// plain InvalidArgument otherwise. Neither reaches Redis (no instance).
func TestWriteRefusesBadOperations(t *testing.T) {
	s := &server{}
	set := func(r *pb.SetRequest) []*pb.TransactionalStateOperation {
		return []*pb.TransactionalStateOperation{{Request: &pb.TransactionalStateOperation_Set{Set: r}}}
	}
	tests := []struct {
		name    string
		ops     []*pb.TransactionalStateOperation
		etagErr bool
	}{
		{"an etag that is no number", set(&pb.SetRequest{Key: "k", Etag: &pb.Etag{Value: "abc"}}), true},
		{"an etag of zero", set(&pb.SetRequest{Key: "k", Etag: &pb.Etag{Value: "0"}}), true},
		{"a ttl that is no number", set(&pb.SetRequest{Key: "k", Metadata: map[string]string{"ttlInSeconds": "soon"}}), false},
		{"no key", set(&pb.SetRequest{}), false},
		{"no operation", []*pb.TransactionalStateOperation{{}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := status.FromError(s.write(t.Context(), "test", tc.ops))
			require.Equal(t, codes.InvalidArgument, st.Code(), st.Message())
			var violations int
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						if v.GetField() == "etag" {
							violations++
						}
					}
				}
			}
			want := 0
			if tc.etagErr {
				want = 1
			}
			assert.Equal(t, want, violations, "violations of the field etag")
		})
	}
}
