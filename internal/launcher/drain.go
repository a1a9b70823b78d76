package launcher

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// traceDrain accepts the spans every app and sidecar sends to the OTLP/HTTP
// endpoint (and, with Config.Tracing zipkin, the sidecars to Zipkin's) when
// no collector runs there (the system started without
// Config.Observe), and throws them away. Without it each sidecar logs a
// failed export every 5 seconds (daprd's exporter has no quiet mode); the
// Dapr CLI avoids the same by running Zipkin from `dapr init`. When the
// port is taken, a collector of the user's (or a test's) is already there,
// and the drain stays out of its way.
type traceDrain struct {
	srv *http.Server
}

// startTraceDrain listens on the OTLP/HTTP port, or returns nil when
// something else does.
func startTraceDrain(addr string) *traceDrain {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v2/spans", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		w.WriteHeader(http.StatusAccepted) // as a Zipkin server answers
	})
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		// An empty ExportTraceServiceResponse: no rejected spans.
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		if r.Header.Get("Content-Type") == "application/json" {
			_, _ = io.WriteString(w, "{}")
		}
	})
	d := &traceDrain{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = d.srv.Serve(ln) }()
	return d
}

func (d *traceDrain) close() {
	if d != nil {
		_ = d.srv.Close()
	}
}

var (
	drainAddr  = net.JoinHostPort("127.0.0.1", strconv.Itoa(otlpHTTPPort))
	zipkinAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(zipkinPort))
)
