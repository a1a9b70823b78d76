// Module image builds mkimage (main.go says what it does): container images
// made here without a container engine or a registry, for the cluster
// harness's containerd (tests/k8s, L4). A module of its own so that
// go-containerregistry, the library ko and crane build images with, moves
// neither the services' versions nor the Dapr runtime's in tools/.
module github.com/daprshop/daprshop/tools/image

go 1.26.4

require (
	github.com/google/go-containerregistry v0.22.1
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
