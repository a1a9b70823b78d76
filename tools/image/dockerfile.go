package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// The images daprshop's final stages start from, and what they are here.
var knownBases = map[string]string{
	"gcr.io/distroless/static-debian12:nonroot": BaseStatic,
	"scratch": BaseScratch,
}

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case
	args string
}

func (in instruction) String() string { return fmt.Sprintf("line %d: %s %s", in.line, in.cmd, in.args) }

// parseDockerfile splits a Dockerfile into its instructions: comments and
// blank lines dropped, lines ending in a backslash joined to the next.
func parseDockerfile(text string) ([]instruction, error) {
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if strings.HasPrefix(line, "#") || line == "" { // Docker skips both inside a continuation too
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("line %d: a continuation runs past the end of the file", start)
	}
	return out, nil
}

// BuildDockerfile does what the Dockerfile at path says, with the build
// context dir and the build arguments args: the build stage's RUN lines run
// on this machine in the context (its output folder /out moved into work),
// and the final stage becomes the Spec of the image. Any instruction or
// form that daprshop's Dockerfiles do not use is refused, naming its line.
func BuildDockerfile(ctx context.Context, path, dir string, args map[string]string, work string, log io.Writer) (Spec, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return Spec{}, err
	}
	ins, err := parseDockerfile(string(text))
	if err != nil {
		return Spec{}, fmt.Errorf("%s: %w", path, err)
	}
	b := &builder{
		dir: dir, out: filepath.Join(work, "out"), log: log, args: args, used: map[string]bool{},
		global: map[string]string{"BUILDPLATFORM": "linux/" + runtime.GOARCH, "TARGETOS": "linux", "TARGETARCH": runtime.GOARCH, "TARGETPLATFORM": "linux/" + runtime.GOARCH},
	}
	if err := os.MkdirAll(b.out, 0o755); err != nil {
		return Spec{}, err
	}
	var stages [][]instruction
	for _, in := range ins {
		switch {
		case in.cmd == "FROM":
			stages = append(stages, []instruction{in})
		case len(stages) == 0 && in.cmd == "ARG":
			if err := b.arg(b.global, in); err != nil {
				return Spec{}, err
			}
		case len(stages) == 0:
			return Spec{}, fmt.Errorf("%s: %s: only ARG may come before the first FROM", path, in)
		default:
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	if len(stages) == 0 {
		return Spec{}, fmt.Errorf("%s: no FROM", path)
	}
	if err := b.checkGo(ctx); err != nil {
		return Spec{}, fmt.Errorf("%s: %w", path, err)
	}
	for _, st := range stages[:len(stages)-1] {
		if err := b.buildStage(ctx, st); err != nil {
			return Spec{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	spec, err := b.finalStage(stages[len(stages)-1])
	if err != nil {
		return Spec{}, fmt.Errorf("%s: %w", path, err)
	}
	for name := range args {
		if !b.used[name] {
			return Spec{}, fmt.Errorf("%s: -build-arg %s: the Dockerfile declares no such ARG", path, name)
		}
	}
	return spec, nil
}

type builder struct {
	dir, out string
	log      io.Writer
	args     map[string]string // -build-arg
	used     map[string]bool
	global   map[string]string // ARGs before the first FROM, and the platform's
	stages   []string          // the names of the stages built
}

// arg declares ARG NAME[=default] in vars: a build argument, else the default.
func (b *builder) arg(vars map[string]string, in instruction) error {
	name, def, hasDef := strings.Cut(in.args, "=")
	if name == "" || strings.ContainsAny(name, " \t") {
		return fmt.Errorf("%s: want ARG NAME[=default]", in)
	}
	if v, ok := b.args[name]; ok {
		vars[name], b.used[name] = v, true
	} else if g, ok := b.global[name]; ok && !hasDef {
		vars[name] = g
	} else {
		vars[name] = def
	}
	return nil
}

// checkGo holds this machine's Go to the Dockerfile's GO_VERSION: the same
// build needs the same compiler.
func (b *builder) checkGo(ctx context.Context) error {
	want, ok := b.global["GO_VERSION"]
	if !ok {
		return nil
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return fmt.Errorf("go env GOVERSION: %w", err)
	}
	if got := strings.TrimSpace(string(out)); got != "go"+want {
		return fmt.Errorf("it builds with Go %s (ARG GO_VERSION); this machine's go is %s: the images would not be the same build", want, got)
	}
	return nil
}

// from reads FROM [--platform=...] image [AS name].
func (b *builder) from(in instruction, vars map[string]string) (image, name string, err error) {
	words := strings.Fields(in.args)
	if len(words) > 0 && strings.HasPrefix(words[0], "--platform=") {
		words = words[1:]
	}
	switch {
	case len(words) == 1:
		return expand(words[0], vars), "", nil
	case len(words) == 3 && strings.EqualFold(words[1], "AS"):
		return expand(words[0], vars), words[2], nil
	}
	return "", "", fmt.Errorf("%s: want FROM [--platform=...] image [AS name]", in)
}

// buildStage runs a build stage here: it must start from the Go image, and
// its RUN lines run in the build context with its ARGs and ENVs.
func (b *builder) buildStage(ctx context.Context, st []instruction) error {
	image, name, err := b.from(st[0], b.global)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(image, "golang:") || name == "" {
		return fmt.Errorf("%s: a build stage here must be a named stage FROM golang:<version> (it runs with this machine's Go)", st[0])
	}
	vars := map[string]string{}
	env := hostEnv()
	for _, in := range st[1:] {
		switch in.cmd {
		case "ARG":
			if err := b.arg(vars, in); err != nil {
				return err
			}
		case "ENV":
			pairs, err := keyValueWords(in, vars)
			if err != nil {
				return err
			}
			for _, kv := range pairs {
				vars[kv[0]] = kv[1]
				env = append(env, kv[0]+"="+kv[1])
			}
		case "WORKDIR":
			// The RUN lines run in the build context itself.
		case "COPY":
			if err := b.checkCopy(in, vars); err != nil {
				return err
			}
		case "RUN":
			if err := b.runLine(ctx, in, vars, env); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: mkimage does not know %s in a build stage (tools/image/dockerfile.go)", in, in.cmd)
		}
	}
	b.stages = append(b.stages, name)
	return nil
}

// checkCopy holds a build stage's COPY to what the context has: the build
// here uses the context in place, so what it copies must be there.
func (b *builder) checkCopy(in instruction, vars map[string]string) error {
	words := strings.Fields(expand(in.args, vars))
	if len(words) < 2 || strings.HasPrefix(words[0], "--") {
		return fmt.Errorf("%s: want COPY src... dst in a build stage", in)
	}
	for _, src := range words[:len(words)-1] {
		m, err := filepath.Glob(filepath.Join(b.dir, src))
		if err != nil || len(m) == 0 {
			return fmt.Errorf("%s: %s is not in the build context %s", in, src, b.dir)
		}
	}
	return nil
}

// runLine runs a RUN line with sh in the build context; --mount options
// (caches) are dropped, and the stage's output folder /out is moved.
func (b *builder) runLine(ctx context.Context, in instruction, vars map[string]string, env []string) error {
	line := in.args
	for strings.HasPrefix(line, "--mount=") {
		_, rest, _ := strings.Cut(line, " ")
		line = strings.TrimSpace(rest)
	}
	if strings.HasPrefix(line, "[") || strings.HasPrefix(line, "--") {
		return fmt.Errorf("%s: want RUN [--mount=...] shell command", in)
	}
	line = strings.ReplaceAll(line, "/out/", b.out+"/")
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.Dir = b.dir
	cmd.Env = env
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = b.log, b.log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	return nil
}

// finalStage turns the last stage into the image's Spec.
func (b *builder) finalStage(st []instruction) (Spec, error) {
	image, _, err := b.from(st[0], b.global)
	if err != nil {
		return Spec{}, err
	}
	base, ok := knownBases[image]
	if !ok {
		return Spec{}, fmt.Errorf("%s: mkimage knows no base %q (it knows distroless static and scratch)", st[0], image)
	}
	spec := Spec{Base: base, Labels: map[string]string{}}
	vars := map[string]string{}
	for _, in := range st[1:] {
		switch in.cmd {
		case "ARG":
			if err := b.arg(vars, in); err != nil {
				return Spec{}, err
			}
		case "LABEL":
			pairs, err := keyValueWords(in, vars)
			if err != nil {
				return Spec{}, err
			}
			for _, kv := range pairs {
				spec.Labels[kv[0]] = kv[1]
			}
		case "ENV":
			pairs, err := keyValueWords(in, vars)
			if err != nil {
				return Spec{}, err
			}
			for _, kv := range pairs {
				spec.Env = append(spec.Env, kv[0]+"="+kv[1])
			}
		case "COPY":
			f, err := b.copyFromStage(in, vars)
			if err != nil {
				return Spec{}, err
			}
			spec.Files = append(spec.Files, f)
		case "USER":
			spec.User = expand(in.args, vars)
		case "WORKDIR":
			spec.WorkingDir = expand(in.args, vars)
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(in.args), &spec.Entrypoint); err != nil {
				return Spec{}, fmt.Errorf("%s: want the exec form, ENTRYPOINT [\"...\"]: %w", in, err)
			}
		default:
			return Spec{}, fmt.Errorf("%s: mkimage does not know %s in the final stage (tools/image/dockerfile.go)", in, in.cmd)
		}
	}
	return spec, nil
}

// copyFromStage reads COPY --from=<stage> /out/<file> <dst>.
func (b *builder) copyFromStage(in instruction, vars map[string]string) (File, error) {
	words := strings.Fields(expand(in.args, vars))
	if len(words) != 3 || !strings.HasPrefix(words[0], "--from=") {
		return File{}, fmt.Errorf("%s: want COPY --from=<stage> /out/<file> <dst> in the final stage", in)
	}
	stage, src, dst := strings.TrimPrefix(words[0], "--from="), words[1], words[2]
	known := false
	for _, s := range b.stages {
		known = known || s == stage
	}
	rel, ok := strings.CutPrefix(src, "/out/")
	if !known || !ok {
		return File{}, fmt.Errorf("%s: want a file under /out of a build stage", in)
	}
	return File{Dst: dst, Src: filepath.Join(b.out, rel)}, nil
}

// hostEnv is this machine's environment without the Go settings a
// container's build would not have (GOFLAGS, GOOS, CGO_ENABLED, ...); what
// says where modules and caches are and where they come from stays.
func hostEnv() []string {
	keep := map[string]bool{"GOPATH": true, "GOCACHE": true, "GOMODCACHE": true, "GOPROXY": true, "GOSUMDB": true,
		"GONOSUMDB": true, "GOPRIVATE": true, "GONOPROXY": true, "GOINSECURE": true, "GOROOT": true}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if (strings.HasPrefix(k, "GO") || k == "CGO_ENABLED") && !keep[k] {
			continue
		}
		env = append(env, kv)
	}
	return env
}
