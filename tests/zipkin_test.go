package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// zipkinSpan is what the tests read of a span in Zipkin's v2 JSON
// (https://zipkin.io/zipkin-api/#/default/post_spans), which the sidecars
// send with TRACING=zipkin (dapr/tracing/zipkin.yaml).
type zipkinSpan struct {
	TraceID       string                       `json:"traceId"`
	ID            string                       `json:"id"`
	ParentID      string                       `json:"parentId"`
	Name          string                       `json:"name"`
	Kind          string                       `json:"kind"`
	LocalEndpoint struct{ ServiceName string } `json:"localEndpoint"`
	Tags          map[string]string            `json:"tags"`
}

// listenZipkin makes the sink a Zipkin server too, on addr: the spans it
// receives join the OTLP ones by trace id, as they do in Jaeger, so a test
// reads one trace whatever format each process exported in. A Zipkin span
// has no instrumentation scope: the sink's readers take it for a sidecar's.
func (s *traceSink) listenZipkin(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("zipkin receiver on %s (is a trace backend running?): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v2/spans", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var spans []zipkinSpan
		if err := json.Unmarshal(b, &spans); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		for _, sp := range spans {
			s.zipkinSpans++
			s.traces[sp.TraceID] = append(s.traces[sp.TraceID], sinkSpan{
				Service: sp.LocalEndpoint.ServiceName, Name: sp.Name, Kind: sp.Kind,
				SpanID: sp.ID, ParentID: sp.ParentID, Attrs: sp.Tags,
			})
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.extra = append(s.extra, srv)
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// ZipkinSpans counts the spans received in Zipkin's format.
func (s *traceSink) ZipkinSpans() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.zipkinSpans
}
