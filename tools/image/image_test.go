package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The same inputs give the same archive, byte for byte, whenever it is
// built; another time gives another image.
func TestWriteIsReproducible(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/false\n"), 0o755))
	spec := Spec{Base: BaseStatic, Files: []File{{Dst: "/app", Src: bin}}, User: "65532:65532", Entrypoint: []string{"/app"},
		Labels: map[string]string{"org.opencontainers.image.title": "t"}}
	write := func(name string, epoch int64) (string, string) {
		out := filepath.Join(dir, name)
		id, err := Write(spec, "example.org/t/app:1", out, epoch)
		require.NoError(t, err)
		return id, digest(t, out)
	}
	id1, sum1 := write("a.tar", 0)
	require.NoError(t, os.Chtimes(bin, bin0, bin0)) // a later mtime changes nothing
	id2, sum2 := write("b.tar", 0)
	id3, _ := write("c.tar", 1700000000)
	assert.Equal(t, id1, id2, "the image's id")
	assert.Equal(t, sum1, sum2, "the archive's bytes")
	assert.NotEqual(t, id1, id3, "another epoch gives another image")
}

var bin0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// A layer's tar holds its files with root's ownership, the modes given and
// the nonroot user's home as 65532's; parents come first.
func TestStaticBaseLayer(t *testing.T) {
	l, err := staticBase(bin0)
	require.NoError(t, err)
	data, err := l.bytes()
	require.NoError(t, err)
	tr := tar.NewReader(bytes.NewReader(data))
	seen := map[string]*tar.Header{}
	var order []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		seen[h.Name], order = h, append(order, h.Name)
	}
	for name, want := range map[string][3]int64{"etc/passwd": {0o644, 0, 0}, "home/nonroot/": {0o700, 65532, 65532}, "tmp/": {0o1777, 0, 0}} {
		h := seen[name]
		require.NotNil(t, h, name)
		assert.Equal(t, want, [3]int64{h.Mode, int64(h.Uid), int64(h.Gid)}, name)
		assert.True(t, h.ModTime.Equal(bin0), "%s: time %v", name, h.ModTime)
	}
	assert.True(t, slices.IsSorted(order), "entries in order, parents first")
	assert.Contains(t, seen, "etc/")
	assert.Contains(t, seen, "etc/ssl/certs/ca-certificates.crt")
}

func digest(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	return string(sum[:])
}
