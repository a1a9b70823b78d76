// Command mkimage builds a container image without a container engine or a
// registry, reproducibly, into an archive that `ctr images import` (and
// `docker load`) reads. The cluster harness (tests/k8s, L4) runs daprshop's
// images in a real containerd with it, on a machine with no Docker engine.
//
// Two ways to say what the image holds:
//
//	mkimage -dockerfile deploy/Dockerfile -context . -build-arg SERVICE=orders \
//	        -tag ghcr.io/daprshop/orders:0.1.0 -o orders.tar
//
// builds the image that Dockerfile describes, by doing what it says: the
// build stage's RUN lines run here (with this machine's Go, which must be
// the Dockerfile's GO_VERSION), and the final stage's instructions make the
// image. Only the instructions daprshop's Dockerfiles use are known; any
// other is refused, so the Dockerfile cannot change without this command
// following it or failing (dockerfile.go).
//
//	mkimage -base scratch -add /pause=bin/pause -user 65535:65535 \
//	        -entrypoint /pause -tag registry.k8s.io/pause:3.10 -o pause.tar
//
// builds one from files (the pause image, Redis from Debian's binary).
//
// Every file of the image has the same owner rules and the time -epoch
// (SOURCE_DATE_EPOCH, else 0), entries are sorted and compression is
// fixed, so the same inputs give the same archive byte for byte. It prints
// the image's id (its config's digest).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

// multi is a repeatable flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	var (
		dockerfile = fs.String("dockerfile", "", "build what this Dockerfile describes")
		buildCtx   = fs.String("context", ".", "the Dockerfile's build context")
		tag        = fs.String("tag", "", "the image's full name (required)")
		out        = fs.String("o", "", "the archive to write (required)")
		base       = fs.String("base", "", "without -dockerfile: static (distroless static's files) or scratch")
		user       = fs.String("user", "", "without -dockerfile: the user, uid[:gid]")
		entrypoint = fs.String("entrypoint", "", "without -dockerfile: the entrypoint, words split on spaces")
		epochFlag  = fs.String("epoch", getenv("SOURCE_DATE_EPOCH"), "every file's and the image's time, in Unix seconds (SOURCE_DATE_EPOCH, else 0)")
		buildArgs  multi
		adds       multi
		labels     multi
		envs       multi
	)
	fs.Var(&buildArgs, "build-arg", "NAME=value for the Dockerfile's ARG (repeatable)")
	fs.Var(&adds, "add", "without -dockerfile: /path/in/image=file or folder here (repeatable)")
	fs.Var(&labels, "label", "without -dockerfile: key=value (repeatable)")
	fs.Var(&envs, "env", "without -dockerfile: NAME=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tag == "" || *out == "" {
		return errors.New("-tag and -o are required")
	}
	var epoch int64
	if *epochFlag != "" {
		var err error
		if epoch, err = strconv.ParseInt(*epochFlag, 10, 64); err != nil || epoch < 0 {
			return fmt.Errorf("-epoch (or SOURCE_DATE_EPOCH) %q: want Unix seconds", *epochFlag)
		}
	}

	var spec Spec
	if *dockerfile != "" {
		if *base != "" || *user != "" || *entrypoint != "" || len(adds)+len(labels)+len(envs) > 0 {
			return errors.New("-base, -add, -user, -entrypoint, -label and -env go without -dockerfile: the Dockerfile says all that")
		}
		argv, err := keyValues(buildArgs, "-build-arg")
		if err != nil {
			return err
		}
		work, err := os.MkdirTemp("", "mkimage-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(work)
		if spec, err = BuildDockerfile(ctx, *dockerfile, *buildCtx, argv, work, os.Stderr); err != nil {
			return err
		}
	} else {
		var err error
		if spec, err = specFromFlags(*base, *user, *entrypoint, adds, labels, envs); err != nil {
			return err
		}
	}
	id, err := Write(spec, *tag, *out, epoch)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, id)
	return nil
}

func specFromFlags(base, user, entrypoint string, adds, labels, envs []string) (Spec, error) {
	spec := Spec{Base: base, User: user, Labels: map[string]string{}}
	if base != BaseStatic && base != BaseScratch {
		return spec, fmt.Errorf("-base %q: want %s or %s", base, BaseStatic, BaseScratch)
	}
	if entrypoint != "" {
		spec.Entrypoint = strings.Fields(entrypoint)
	}
	for _, a := range adds {
		dst, src, ok := strings.Cut(a, "=")
		if !ok || !strings.HasPrefix(dst, "/") || src == "" {
			return spec, fmt.Errorf("-add %q: want /path/in/image=file", a)
		}
		spec.Files = append(spec.Files, File{Dst: dst, Src: src})
	}
	kv, err := keyValues(labels, "-label")
	if err != nil {
		return spec, err
	}
	spec.Labels = kv
	for _, e := range envs {
		if !strings.Contains(e, "=") {
			return spec, fmt.Errorf("-env %q: want NAME=value", e)
		}
		spec.Env = append(spec.Env, e)
	}
	return spec, nil
}

func keyValues(pairs []string, what string) (map[string]string, error) {
	m := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want NAME=value", what, p)
		}
		m[k] = v
	}
	return m, nil
}
