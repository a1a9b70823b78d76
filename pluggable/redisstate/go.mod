// Module redisstate is daprshop's Redis state store for Dapr: a pluggable
// component (Dapr's gRPC component protocol over a Unix socket) whose
// transactions are all-or-nothing. A module of its own, so that the Dapr
// runtime's proto package (and its large module graph) never enters the
// application module.
module github.com/daprshop/daprshop/pluggable/redisstate

go 1.26.5

require (
	github.com/dapr/dapr v1.18.2
	github.com/redis/go-redis/v9 v9.21.0
	github.com/stretchr/testify v1.12.1
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260401024825-9d38bb4040a9
	google.golang.org/grpc v1.80.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.uber.org/atomic v1.11.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/net v0.55.0 // indirect
	golang.org/x/sys v0.45.0 // indirect
	golang.org/x/text v0.38.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
