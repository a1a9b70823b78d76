package launcher

// zipkin reports whether the sidecars export their spans in Zipkin's
// format (Config.Tracing, dapr/tracing/zipkin.yaml).
func (s *System) zipkin() bool { return s.cfg.Tracing == "zipkin" }

// useTracing gives every sidecar the tracing block of
// dapr/tracing/<Config.Tracing>.yaml, unless it is the default (otel) that
// the Configurations in dapr/config/ carry.
func (s *System) useTracing() error {
	if t := s.cfg.Tracing; t != "" && t != "otel" {
		return s.useConfigBlock("tracing", "tracing", t)
	}
	return nil
}
