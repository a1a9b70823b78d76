package launcher

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// RunFile is the multi-app run file that `dapr run -f` reads. It declares
// exactly the fields the Dapr CLI's parser reads, each in the section where
// the CLI reads it (clifields_test.go holds them to the CLI's own list), and
// is decoded strictly: a field the CLI would silently ignore, such as
// `envFile` or an app field under `common`, fails to load instead of
// quietly meaning one thing to the launcher and nothing to the CLI.
type RunFile struct {
	Version int            `yaml:"version"`
	Name    string         `yaml:"name"`
	Common  SharedSettings `yaml:"common"`
	Apps    []AppSettings  `yaml:"apps"`
}

// SharedSettings are the settings the CLI takes under `common` as well as
// under each app (its SharedRunConfig).
type SharedSettings struct {
	ConfigFile          string            `yaml:"configFilePath"`
	AppProtocol         string            `yaml:"appProtocol"`
	APIListenAddresses  string            `yaml:"apiListenAddresses"`
	EnableProfiling     bool              `yaml:"enableProfiling"`
	LogLevel            string            `yaml:"logLevel"`
	AppMaxConcurrency   int               `yaml:"appMaxConcurrency"`
	PlacementHostAddr   string            `yaml:"placementHostAddress"`
	ResourcesPathLegacy string            `yaml:"resourcesPath"`
	ResourcesPaths      []string          `yaml:"resourcesPaths"`
	AppSSL              bool              `yaml:"appSSL"`
	MaxRequestBodySize  string            `yaml:"maxBodySize"`
	ReadBufferSize      string            `yaml:"readBufferSize"`
	EnableAppHealth     bool              `yaml:"enableAppHealthCheck"`
	AppHealthPath       string            `yaml:"appHealthCheckPath"`
	AppHealthInterval   int               `yaml:"appHealthProbeInterval"`
	AppHealthTimeout    int               `yaml:"appHealthProbeTimeout"`
	AppHealthThreshold  int               `yaml:"appHealthThreshold"`
	EnableAPILogging    bool              `yaml:"enableApiLogging"`
	RuntimePath         string            `yaml:"runtimePath"`
	Env                 map[string]string `yaml:"env"`
	DaprdLogDestination string            `yaml:"daprdLogDestination"`
	AppLogDestination   string            `yaml:"appLogDestination"`
	SchedulerHostAddr   string            `yaml:"schedulerHostAddress"`
}

// AppSettings holds one app's settings under the Dapr CLI's field names:
// the shared ones and those only an app may set (its RunConfig, container
// settings and appDirPath).
type AppSettings struct {
	SharedSettings    `yaml:",inline"`
	AppID             string   `yaml:"appID"`
	AppDirPath        string   `yaml:"appDirPath"`
	AppChannelAddress string   `yaml:"appChannelAddress"`
	AppPort           int      `yaml:"appPort"`
	HTTPPort          int      `yaml:"daprHTTPPort"`
	GRPCPort          int      `yaml:"daprGRPCPort"`
	ProfilePort       int      `yaml:"profilePort"`
	Command           []string `yaml:"command"`
	MetricsPort       int      `yaml:"metricsPort"`
	UnixDomainSocket  string   `yaml:"unixDomainSocket"`
	InternalGRPCPort  int      `yaml:"daprInternalGRPCPort"`
	ContainerImage    string   `yaml:"containerImage"`
	ImagePullPolicy   string   `yaml:"containerImagePullPolicy"`
	CreateService     bool     `yaml:"createService"`
}

// App is one app of the run file with the common settings merged in and
// every path made absolute, as the Dapr CLI does.
type App struct {
	AppSettings
	// EnvFromFile holds the variables of the launcher's env file (the API
	// tokens, Config.EnvFile): both app and daprd inherit them, as both
	// inherit the environment of `dapr run` under the CLI.
	EnvFromFile map[string]string
	// CommonConfigFile is the common configFilePath (absolute), whether or
	// not the app uses it: the launcher gives it to sentry.
	CommonConfigFile string
}

// LoadRunFile reads the run file at path. profile, when not empty, replaces
// the last element of every resources path that sits in a folder named
// "components" (components/local → components/<profile>), which is how one
// run file serves every infrastructure profile.
func LoadRunFile(path, profile string) ([]App, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read run file: %w", err)
	}
	var rf RunFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		return nil, fmt.Errorf("parse run file %s: %w (each field must be one the Dapr CLI reads, in the section where it reads it)", path, err)
	}
	if rf.Version != 1 {
		return nil, fmt.Errorf("run file %s: version %d is not supported (want 1)", path, rf.Version)
	}
	if len(rf.Apps) == 0 {
		return nil, fmt.Errorf("run file %s lists no apps", path)
	}
	base, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}

	common := rf.Common
	common.ConfigFile = resolve(base, common.ConfigFile)
	common.ResourcesPaths = resolveAll(base, common.ResourcesPaths, profile)

	apps := make([]App, 0, len(rf.Apps))
	seen := map[string]bool{}
	for i, a := range rf.Apps {
		if a.AppID == "" {
			return nil, fmt.Errorf("run file %s: app %d has no appID", path, i)
		}
		if seen[a.AppID] {
			return nil, fmt.Errorf("run file %s: app id %q appears twice", path, a.AppID)
		}
		seen[a.AppID] = true
		if a.AppDirPath == "" {
			return nil, fmt.Errorf("run file %s: app %q has no appDirPath", path, a.AppID)
		}
		a.AppDirPath = resolve(base, a.AppDirPath)
		if fi, err := os.Stat(a.AppDirPath); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("run file %s: app %q: appDirPath %s is not a directory", path, a.AppID, a.AppDirPath)
		}
		// App-level paths are relative to the app's folder, as in the CLI.
		a.ConfigFile = resolve(a.AppDirPath, a.ConfigFile)
		a.ResourcesPaths = resolveAll(a.AppDirPath, a.ResourcesPaths, profile)
		mergeCommon(&a, common)
		if a.HTTPPort == 0 || a.GRPCPort == 0 || a.MetricsPort == 0 || a.InternalGRPCPort == 0 {
			return nil, fmt.Errorf("run file %s: app %q must set daprHTTPPort, daprGRPCPort, daprInternalGRPCPort and metricsPort, so that ports are stable and checked before start", path, a.AppID)
		}
		for _, p := range a.ResourcesPaths {
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("app %q: resources path %s: %w (is PROFILE=%q a folder under components/?)", a.AppID, p, err, profile)
			}
		}
		apps = append(apps, App{AppSettings: a, CommonConfigFile: common.ConfigFile})
	}
	return apps, nil
}

// mergeCommon fills every field the app leaves empty from common, as the
// Dapr CLI does; env maps are merged with the app's values winning.
func mergeCommon(a *AppSettings, c SharedSettings) {
	setStr := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	setInt := func(dst *int, src int) {
		if *dst == 0 {
			*dst = src
		}
	}
	setStr(&a.AppProtocol, c.AppProtocol)
	setStr(&a.ConfigFile, c.ConfigFile)
	setStr(&a.AppHealthPath, c.AppHealthPath)
	setStr(&a.PlacementHostAddr, c.PlacementHostAddr)
	setStr(&a.SchedulerHostAddr, c.SchedulerHostAddr)
	setStr(&a.LogLevel, c.LogLevel)
	setStr(&a.MaxRequestBodySize, c.MaxRequestBodySize)
	setStr(&a.APIListenAddresses, c.APIListenAddresses)
	setInt(&a.AppHealthInterval, c.AppHealthInterval)
	setInt(&a.AppHealthTimeout, c.AppHealthTimeout)
	setInt(&a.AppHealthThreshold, c.AppHealthThreshold)
	setInt(&a.AppMaxConcurrency, c.AppMaxConcurrency)
	if len(a.ResourcesPaths) == 0 {
		a.ResourcesPaths = c.ResourcesPaths
	}
	a.EnableAppHealth = a.EnableAppHealth || c.EnableAppHealth
	a.EnableAPILogging = a.EnableAPILogging || c.EnableAPILogging
	env := map[string]string{}
	for k, v := range c.Env {
		env[k] = v
	}
	for k, v := range a.Env {
		env[k] = v
	}
	a.Env = env
}

func resolve(base, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[2:])
		}
	}
	return filepath.Join(base, p)
}

func resolveAll(base string, ps []string, profile string) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		p = resolve(base, p)
		if profile != "" && filepath.Base(filepath.Dir(p)) == "components" {
			p = filepath.Join(filepath.Dir(p), profile)
		}
		out = append(out, p)
	}
	return out
}

// readEnvFile reads KEY=VALUE lines; blank lines and # comments are skipped,
// and values may be quoted.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%s:%d: want KEY=VALUE", path, n)
		}
		env[strings.TrimSpace(k)] = unquote(strings.TrimSpace(v))
	}
	return env, sc.Err()
}

// unquote removes one pair of matching quotes around v, if any.
func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}
