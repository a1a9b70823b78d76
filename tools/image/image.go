package main

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The bases an image can start from.
const (
	// BaseStatic is distroless "static" (gcr.io/distroless/static-debian12),
	// made from this machine's files: CA certificates, tzdata, /etc/passwd
	// and /etc/group with root, nobody and nonroot (65532), /tmp and the
	// nonroot user's home; no shell, no package manager, no libc
	// (base.go).
	BaseStatic = "static"
	// BaseScratch is an empty filesystem.
	BaseScratch = "scratch"
)

// Spec is what an image holds: its base, then one layer of files, and its
// config.
type Spec struct {
	Base       string
	Files      []File
	User       string
	Entrypoint []string
	Env        []string
	WorkingDir string
	Labels     map[string]string
}

// File is a file (or a folder, taken whole) of this machine at Dst in the
// image, owned by root, with its own permission bits.
type File struct {
	Dst string
	Src string
}

// Write writes spec's image, named tag, as an archive at out (the layout
// `docker save` writes, which `ctr images import` and `docker load` read),
// and returns the image's id: its config's digest.
func Write(spec Spec, tag, out string, epoch int64) (string, error) {
	ref, err := name.NewTag(tag, name.StrictValidation)
	if err != nil {
		return "", fmt.Errorf("-tag %q: %w (give registry, repository and tag in full)", tag, err)
	}
	img, err := Build(spec, epoch)
	if err != nil {
		return "", err
	}
	if err := tarball.WriteToFile(out, ref, img); err != nil {
		return "", fmt.Errorf("write %s: %w", out, err)
	}
	id, err := img.ConfigName()
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// Build makes spec's image: the base's layer (none for scratch), then the
// files', every time set to epoch.
func Build(spec Spec, epoch int64) (v1.Image, error) {
	at := time.Unix(epoch, 0).UTC()
	cfg := &v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: at},
		RootFS:       v1.RootFS{Type: "layers"},
	}
	var layers []mutate.Addendum
	switch spec.Base {
	case BaseStatic:
		b, err := staticBase(at)
		if err != nil {
			return nil, err
		}
		cfg.Config = v1.Config{
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
			User:       "65532",
			WorkingDir: "/home/nonroot",
		}
		add, err := addendum(b, "distroless static's files, from this machine (tools/image/base.go)", at)
		if err != nil {
			return nil, err
		}
		layers = append(layers, add)
	case BaseScratch:
	default:
		return nil, fmt.Errorf("base %q: want %s or %s", spec.Base, BaseStatic, BaseScratch)
	}
	if len(spec.Files) > 0 {
		l := newLayer(at)
		var what []string
		for _, f := range spec.Files {
			if err := l.addTree(f.Dst, f.Src); err != nil {
				return nil, err
			}
			what = append(what, f.Dst)
		}
		add, err := addendum(l, "COPY "+strings.Join(what, " "), at)
		if err != nil {
			return nil, err
		}
		layers = append(layers, add)
	}
	if spec.User != "" {
		cfg.Config.User = spec.User
	}
	if spec.WorkingDir != "" {
		cfg.Config.WorkingDir = spec.WorkingDir
	}
	cfg.Config.Entrypoint = spec.Entrypoint
	cfg.Config.Env = mergeEnv(cfg.Config.Env, spec.Env)
	if len(spec.Labels) > 0 {
		cfg.Config.Labels = spec.Labels
	}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return nil, err
	}
	return mutate.Append(img, layers...)
}

// addendum turns a layer's tar into an image layer with its history entry.
func addendum(l *layer, createdBy string, at time.Time) (mutate.Addendum, error) {
	data, err := l.bytes()
	if err != nil {
		return mutate.Addendum{}, err
	}
	tl, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	if err != nil {
		return mutate.Addendum{}, err
	}
	return mutate.Addendum{Layer: tl, History: v1.History{Created: v1.Time{Time: at}, CreatedBy: createdBy}}, nil
}

// mergeEnv sets each of over in env, replacing a variable of the same name.
func mergeEnv(env, over []string) []string {
	out := append([]string(nil), env...)
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, e := range out {
			if strings.HasPrefix(e, k+"=") {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}
