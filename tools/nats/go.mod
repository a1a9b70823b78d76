// Module nats pins the nats-server that the local profile runs (make tools
// builds it into .bin/). It is a module of its own so that the server does
// not take the version dapr's go.mod names for its tests (v2.10.27). That
// version drops messages: a push delivery that finds no subscriber (a
// sidecar just killed) wraps the message's delivery count below zero; the
// message then counts as having reached MaxDeliver (whatever it is, even
// unlimited) and leaves pending without ever being redelivered (nats-io/nats-server#8511,
// fixed by #8512 in v2.14.6; docs/dapr-notes.md). The subscriber-crash
// scenario (tests/chaos_pubsub_test.go) found it.
module github.com/daprshop/daprshop/tools/nats

go 1.26.5

require github.com/nats-io/nats-server/v2 v2.14.9

require (
	github.com/antithesishq/antithesis-sdk-go v0.8.0-default-no-op // indirect
	github.com/google/go-tpm v0.9.8 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/minio/highwayhash v1.0.4 // indirect
	github.com/nats-io/jwt/v2 v2.8.2 // indirect
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/time v0.16.0 // indirect
)
