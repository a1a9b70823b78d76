// Module kafka pins the Kafka-protocol broker of the kafka profile
// (components/kafka/): kfake, from franz-go, behind main.go. A module of its
// own, so that neither the application module nor tools/ takes in its
// dependencies; `make .bin/kafka` builds it. kfake has no release tags: the
// pseudo-version below is the newest commit the module proxy serves, and it
// needs franz-go v1.22 (v1.22.2 here): with the v1.21.7 its own go.mod names
// it does not compile (kversion.Versions has no EachSupportedFeature).
module github.com/daprshop/daprshop/tools/kafka

go 1.26.5

require github.com/twmb/franz-go/pkg/kfake v0.0.0-20260918054303-01f206a7e32c

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/twmb/franz-go v1.22.2 // indirect
	github.com/twmb/franz-go/pkg/kmsg v1.15.0 // indirect
)
