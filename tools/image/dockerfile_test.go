package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The repository's two Dockerfiles, read as mkimage reads them: the final
// stage gives the image daprshop documents (static base, uid 65532, the
// binary at the root as the entrypoint, the labels).
func TestRepositoryDockerfiles(t *testing.T) {
	cases := []struct {
		file, context, entrypoint, title string
		args                             map[string]string
	}{
		{"../../deploy/Dockerfile", "../..", "/app", "daprshop-catalog", map[string]string{"SERVICE": "catalog"}},
		{"../../pluggable/redisstate/Dockerfile", "../../pluggable/redisstate", "/redisstate", "daprshop-redisstate", nil},
	}
	for _, c := range cases {
		t.Run(filepath.Base(filepath.Dir(c.file)), func(t *testing.T) {
			var log bytes.Buffer
			spec, err := BuildDockerfile(context.Background(), c.file, c.context, c.args, t.TempDir(), &log)
			require.NoError(t, err, log.String())
			assert.Equal(t, BaseStatic, spec.Base)
			assert.Equal(t, "65532:65532", spec.User)
			assert.Equal(t, []string{c.entrypoint}, spec.Entrypoint)
			assert.Equal(t, c.title, spec.Labels["org.opencontainers.image.title"])
			require.Len(t, spec.Files, 1)
			assert.Equal(t, c.entrypoint, spec.Files[0].Dst)
			assert.FileExists(t, spec.Files[0].Src, "the build stage made the binary")
		})
	}
}

// What mkimage cannot do as the Dockerfile says, it refuses, naming the
// line, rather than build something else.
func TestDockerfileRefusals(t *testing.T) {
	goVersion := strings.TrimPrefix(runtime.Version(), "go")
	head := "ARG GO_VERSION=" + goVersion + "\nFROM golang:${GO_VERSION} AS build\nRUN true\n"
	cases := []struct{ name, text, want string }{
		{"an instruction it does not know", head + "FROM scratch\nHEALTHCHECK CMD true\n", "line 5: HEALTHCHECK CMD true: mkimage does not know HEALTHCHECK"},
		{"an unknown base", head + "FROM alpine:3\n", `knows no base "alpine:3"`},
		{"a build stage not on Go", "FROM node:20 AS build\nFROM scratch\n", "FROM golang:<version>"},
		{"another Go", "ARG GO_VERSION=1.0.0\nFROM golang:${GO_VERSION} AS build\nFROM scratch\n", "builds with Go 1.0.0"},
		{"a COPY from the context in the final stage", head + "FROM scratch\nCOPY main.go /main.go\n", "want COPY --from=<stage> /out/<file> <dst>"},
		{"a file the build context lacks", "ARG GO_VERSION=" + goVersion + "\nFROM golang:${GO_VERSION} AS build\nCOPY nothere/ nothere/\nFROM scratch\n", "nothere/ is not in the build context"},
		{"a failing RUN", "ARG GO_VERSION=" + goVersion + "\nFROM golang:${GO_VERSION} AS build\nRUN exit 3\nFROM scratch\n", "line 3: RUN exit 3: exit status 3"},
		{"the shell form of ENTRYPOINT", head + "FROM scratch\nENTRYPOINT /app\n", "want the exec form"},
		{"a continuation past the end", "FROM scratch \\\n", "runs past the end"},
		{"a build argument it does not declare", head + "FROM scratch\n", "-build-arg NOPE: the Dockerfile declares no such ARG"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "Dockerfile")
			require.NoError(t, os.WriteFile(file, []byte(c.text), 0o644))
			args := map[string]string{}
			if strings.Contains(c.want, "NOPE") {
				args["NOPE"] = "1"
			}
			_, err := BuildDockerfile(context.Background(), file, dir, args, t.TempDir(), &bytes.Buffer{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestWords(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{`a="b c" d=e`, []string{"a=b c", "d=e"}},
		{`k='it''s' x=\"y`, []string{"k=its", `x="y`}},
		{`  spaced   out  `, []string{"spaced", "out"}},
	}
	for _, c := range cases {
		got, err := words(c.in)
		require.NoError(t, err, c.in)
		assert.Equal(t, c.want, got, c.in)
	}
	_, err := words(`a="open`)
	assert.Error(t, err, "an open quote is refused")
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "EMPTY": ""}
	for in, want := range map[string]string{"${A}": "1", "$A-x": "1-x", "${B:-2}": "2", "${EMPTY:-3}": "3", "${A:-9}": "1"} {
		assert.Equal(t, want, expand(in, vars), in)
	}
}
