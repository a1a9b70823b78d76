package tests

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// traceSink is the OTLP/HTTP receiver the end-to-end tests run on the
// endpoint every app and sidecar of the local system sends its spans to
// (127.0.0.1:4318, dapr/config/ and dapr/dapr.yaml): the tests read whole
// traces from it.
type traceSink struct {
	mu          sync.Mutex
	traces      map[string][]sinkSpan // by trace id (hex)
	srv         *http.Server
	extra       []*http.Server // the Zipkin receiver (zipkin_test.go)
	zipkinSpans int
}

// sinkSpan is what the tests read of one span.
type sinkSpan struct {
	Service  string // the resource's service.name
	Scope    string // the instrumentation scope that made it
	Name     string
	Kind     string
	SpanID   string
	ParentID string
	Attrs    map[string]string
}

// startTraceSink listens on addr at once (a taken port fails the start,
// rather than leave the test waiting for spans sent elsewhere).
func startTraceSink(addr string) (*traceSink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("OTLP receiver on %s (is a trace backend running?): %w", addr, err)
	}
	s := &traceSink{traces: map[string][]sinkSpan{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", s.receive)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *traceSink) Close() {
	_ = s.srv.Close()
	for _, srv := range s.extra {
		_ = srv.Close()
	}
}

func (s *traceSink) receive(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(io.LimitReader(body, 64<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if r.Header.Get("Content-Type") == "application/json" {
		err = protojson.Unmarshal(b, &req)
	} else {
		err = proto.Unmarshal(b, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.add(&req)
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (s *traceSink) add(req *coltracepb.ExportTraceServiceRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		service := attrs(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				id := hex.EncodeToString(sp.GetTraceId())
				s.traces[id] = append(s.traces[id], sinkSpan{
					Service:  service,
					Scope:    ss.GetScope().GetName(),
					Name:     sp.GetName(),
					Kind:     sp.GetKind().String(),
					SpanID:   hex.EncodeToString(sp.GetSpanId()),
					ParentID: hex.EncodeToString(sp.GetParentSpanId()),
					Attrs:    attrs(sp.GetAttributes()),
				})
			}
		}
	}
}

// Trace returns the spans received so far of the trace id.
func (s *traceSink) Trace(traceID string) []sinkSpan {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkSpan(nil), s.traces[traceID]...)
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch {
		case v.GetStringValue() != "":
			m[kv.GetKey()] = v.GetStringValue()
		default:
			m[kv.GetKey()] = fmt.Sprint(v.GetValue())
		}
	}
	return m
}
