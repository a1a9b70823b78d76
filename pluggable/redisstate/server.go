package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	pb "github.com/dapr/dapr/pkg/proto/components/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// server answers daprd's calls: the StateStore, TransactionalStateStore and
// TransactionalStoreMultiMaxSize services of Dapr's component protocol.
type server struct {
	pb.UnimplementedStateStoreServer
	pb.UnimplementedTransactionalStateStoreServer
	pb.UnimplementedTransactionalStoreMultiMaxSizeServer

	log       *slog.Logger
	instances *instances
}

// features are what daprd may rely on: ETags, transactions (both needed
// for the actor and workflow state store) and TTLs.
var features = []string{"ETAG", "TRANSACTIONAL", "TTL"}

func (s *server) Init(ctx context.Context, req *pb.InitRequest) (*pb.InitResponse, error) {
	name, err := instanceName(ctx)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	c, err := parseConfig(req.GetMetadata().GetProperties())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "component %s: %v", name, err)
	}
	if err := s.instances.init(ctx, name, c); err != nil {
		return nil, s.fail(ctx, "init", err)
	}
	s.log.InfoContext(ctx, "component initialised", "component", name, "redis_host", c.Host, "redis_db", c.DB)
	return &pb.InitResponse{}, nil
}

func (s *server) Features(context.Context, *pb.FeaturesRequest) (*pb.FeaturesResponse, error) {
	return &pb.FeaturesResponse{Features: features}, nil
}

func (s *server) Ping(ctx context.Context, _ *pb.PingRequest) (*pb.PingResponse, error) {
	st, err := s.instances.get(ctx)
	if err != nil {
		return nil, s.fail(ctx, "ping", err)
	}
	if err := st.ping(ctx); err != nil {
		return nil, s.fail(ctx, "ping", err)
	}
	return &pb.PingResponse{}, nil
}

func (s *server) MultiMaxSize(context.Context, *pb.MultiMaxSizeRequest) (*pb.MultiMaxSizeResponse, error) {
	// -1: no limit but Redis's own (a script's arguments fit in memory).
	return &pb.MultiMaxSizeResponse{MaxSize: -1}, nil
}

func (s *server) Get(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	recs, err := s.read(ctx, []*pb.GetRequest{req})
	if err != nil {
		return nil, s.fail(ctx, "get", err)
	}
	r := recs[0]
	return &pb.GetResponse{Data: r.GetData(), Etag: r.GetEtag(), Metadata: r.GetMetadata()}, nil
}

func (s *server) BulkGet(ctx context.Context, req *pb.BulkGetRequest) (*pb.BulkGetResponse, error) {
	items, err := s.read(ctx, req.GetItems())
	if err != nil {
		return nil, s.fail(ctx, "bulk get", err)
	}
	return &pb.BulkGetResponse{Items: items}, nil
}

// read reads every key in one script.
func (s *server) read(ctx context.Context, reqs []*pb.GetRequest) ([]*pb.BulkStateItem, error) {
	st, err := s.instances.get(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(reqs))
	for i, r := range reqs {
		keys[i] = r.GetKey()
	}
	recs, err := st.read(ctx, keys)
	if err != nil {
		return nil, err
	}
	items := make([]*pb.BulkStateItem, len(reqs))
	for i, r := range recs {
		item := &pb.BulkStateItem{Key: keys[i]}
		if r.found {
			item.Data = r.value
			if r.etag != "" {
				item.Etag = &pb.Etag{Value: r.etag}
			}
			if r.ttl > 0 {
				item.Metadata = map[string]string{"ttlExpireTime": time.Now().Add(r.ttl).UTC().Format(time.RFC3339)}
			}
		}
		items[i] = item
	}
	return items, nil
}

func (s *server) Set(ctx context.Context, req *pb.SetRequest) (*pb.SetResponse, error) {
	if err := s.write(ctx, "set", []*pb.TransactionalStateOperation{{Request: &pb.TransactionalStateOperation_Set{Set: req}}}); err != nil {
		return nil, err
	}
	return &pb.SetResponse{}, nil
}

func (s *server) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	if err := s.write(ctx, "delete", []*pb.TransactionalStateOperation{{Request: &pb.TransactionalStateOperation_Delete{Delete: req}}}); err != nil {
		return nil, err
	}
	return &pb.DeleteResponse{}, nil
}

// BulkSet and BulkDelete are all-or-nothing too: stricter than Dapr asks,
// and the same script.
func (s *server) BulkSet(ctx context.Context, req *pb.BulkSetRequest) (*pb.BulkSetResponse, error) {
	ops := make([]*pb.TransactionalStateOperation, len(req.GetItems()))
	for i, r := range req.GetItems() {
		ops[i] = &pb.TransactionalStateOperation{Request: &pb.TransactionalStateOperation_Set{Set: r}}
	}
	if err := s.write(ctx, "bulk set", ops); err != nil {
		return nil, err
	}
	return &pb.BulkSetResponse{}, nil
}

func (s *server) BulkDelete(ctx context.Context, req *pb.BulkDeleteRequest) (*pb.BulkDeleteResponse, error) {
	ops := make([]*pb.TransactionalStateOperation, len(req.GetItems()))
	for i, r := range req.GetItems() {
		ops[i] = &pb.TransactionalStateOperation{Request: &pb.TransactionalStateOperation_Delete{Delete: r}}
	}
	if err := s.write(ctx, "bulk delete", ops); err != nil {
		return nil, err
	}
	return &pb.BulkDeleteResponse{}, nil
}

// Transact applies a transaction. Its errors reach the app in daprd's own
// words ("error while executing state transaction: ..."), so a conflict
// says "etag mismatch" in its message, as state stores do.
func (s *server) Transact(ctx context.Context, req *pb.TransactionalStateRequest) (*pb.TransactionalStateResponse, error) {
	if err := s.write(ctx, "transaction", req.GetOperations()); err != nil {
		return nil, err
	}
	return &pb.TransactionalStateResponse{}, nil
}

// write turns daprd's operations into ops and applies them as one; its
// error is a gRPC status daprd understands.
func (s *server) write(ctx context.Context, what string, reqs []*pb.TransactionalStateOperation) error {
	ops := make([]op, 0, len(reqs))
	for i, r := range reqs {
		o, err := toOp(r)
		if errors.Is(err, errInvalidETag) {
			return etagStatus(codes.InvalidArgument, fmt.Sprintf("operation %d: %v", i+1, err))
		}
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "operation %d: %v", i+1, err)
		}
		ops = append(ops, o)
	}
	st, err := s.instances.get(ctx)
	if err == nil {
		err = st.write(ctx, ops)
	}
	if isConflict(err) {
		// FailedPrecondition with one violation of the field "etag" is how
		// daprd tells an ETag mismatch from other errors (its
		// pkg/components/state/pluggable.go).
		return etagStatus(codes.FailedPrecondition, err.Error())
	}
	if err != nil {
		return s.fail(ctx, what, err)
	}
	return nil
}

// toOp reads one of daprd's operations.
func toOp(r *pb.TransactionalStateOperation) (op, error) {
	switch {
	case r.GetSet() != nil:
		set := r.GetSet()
		o := op{key: set.GetKey(), value: set.GetValue(), etag: set.GetEtag().GetValue()}
		if set.GetKey() == "" {
			return op{}, errors.New("a set without a key")
		}
		o.insert = o.etag == "" && set.GetOptions().GetConcurrency() == pb.StateOptions_CONCURRENCY_FIRST_WRITE
		ttl, err := ttlOf(set.GetMetadata())
		if err != nil {
			return op{}, err
		}
		o.ttl = ttl
		return o, checkETag(o.etag)
	case r.GetDelete() != nil:
		del := r.GetDelete()
		if del.GetKey() == "" {
			return op{}, errors.New("a delete without a key")
		}
		o := op{del: true, key: del.GetKey(), etag: del.GetEtag().GetValue()}
		return o, checkETag(o.etag)
	default:
		return op{}, errors.New("an operation that is neither a set nor a delete")
	}
}

// errInvalidETag is an ETag that cannot be one of this store's.
var errInvalidETag = errors.New("invalid etag")

// checkETag refuses an ETag this store cannot have written (its ETags are
// positive integers).
func checkETag(etag string) error {
	if etag == "" {
		return nil
	}
	if n, err := strconv.ParseUint(etag, 10, 63); err != nil || n == 0 {
		return fmt.Errorf("%w %q: this store's ETags are positive integers", errInvalidETag, etag)
	}
	return nil
}

// ttlOf reads a set's ttlInSeconds: "" keeps the record's TTL.
func ttlOf(md map[string]string) (string, error) {
	v, ok := md["ttlInSeconds"]
	if !ok {
		return "", nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return "", fmt.Errorf("ttlInSeconds %q is not a whole number of seconds", v)
	}
	return strconv.FormatInt(n, 10), nil
}

// etagStatus is an ETag error as daprd reads it: the code, and a BadRequest
// detail with exactly one violation, of the field "etag".
func etagStatus(code codes.Code, msg string) error {
	st := status.New(code, msg)
	withDetail, err := st.WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "etag", Description: msg}},
	})
	if err != nil {
		return st.Err()
	}
	return withDetail.Err()
}

// fail logs an error of Redis or of this store and returns its status:
// Unavailable when Redis cannot be reached, FailedPrecondition for a
// component never initialised, Internal otherwise.
func (s *server) fail(ctx context.Context, what string, err error) error {
	code := codes.Internal
	switch {
	case errors.Is(err, errNotInitialised):
		code = codes.FailedPrecondition
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case isNetError(err):
		code = codes.Unavailable
	}
	s.log.ErrorContext(ctx, what+" failed", "err", err, "code", code.String())
	return status.Errorf(code, "%s: %v", what, err)
}
