package check

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	componentsapi "github.com/dapr/dapr/pkg/apis/components/v1alpha1"
	configurationapi "github.com/dapr/dapr/pkg/apis/configuration/v1alpha1"
	resiliencyapi "github.com/dapr/dapr/pkg/apis/resiliency/v1alpha1"
	subscriptionsapi "github.com/dapr/dapr/pkg/apis/subscriptions/v2alpha1"
	"sigs.k8s.io/yaml"
)

// Repo is what the manifests are checked against: the local system as the
// repository describes it. Everything is read from the repository's own
// files, never restated here.
type Repo struct {
	Root string
	Run  RunFile
	// Apps are the run file's apps, in its order, each with what the
	// repository says about it.
	Apps []App
	// Components, Subscriptions and Resiliencies are the resources the run
	// file loads locally (its common resourcesPaths: components/local and
	// dapr/resources).
	Components    []*componentsapi.Component
	Subscriptions []*subscriptionsapi.Subscription
	Resiliencies  []*resiliencyapi.Resiliency
	// Ignored lists what daprd ignores in those local files: fields their
	// Dapr types do not have. daprd decodes them leniently, so they are
	// read here as daprd reads them, and listed (KnownIgnored).
	Ignored []string
}

// App is one app of the run file.
type App struct {
	RunApp
	// Config is the app's own Dapr Configuration (its configFilePath), read
	// from ConfigFile (relative to the repository's root).
	Config     *configurationapi.Configuration
	ConfigFile string
	// DefaultPort is the port the service listens on when APP_PORT is unset,
	// read from the source of its main.go.
	DefaultPort int
	// ReadsAppToken is whether main.go reads APP_API_TOKEN (an app that does
	// not, the gateway, checks no app token).
	ReadsAppToken bool
	// Node is whether the app runs on Node.js (a package.json in its
	// folder; its image is built from its own Dockerfile), not Go.
	Node bool
}

// RunFile is the part of the multi-app run file (the format of
// `dapr run -f`) that a deployment must agree with.
type RunFile struct {
	Common struct {
		ResourcesPaths []string `json:"resourcesPaths"`
		RunSettings
	} `json:"common"`
	Apps []RunApp `json:"apps"`
}

// RunSettings are the settings an app may take from common or set itself.
type RunSettings struct {
	AppProtocol            string         `json:"appProtocol"`
	EnableAppHealthCheck   *bool          `json:"enableAppHealthCheck"`
	AppHealthCheckPath     string         `json:"appHealthCheckPath"`
	AppHealthProbeInterval int            `json:"appHealthProbeInterval"`
	AppHealthProbeTimeout  int            `json:"appHealthProbeTimeout"`
	AppHealthThreshold     int            `json:"appHealthThreshold"`
	Env                    map[string]any `json:"env"`
}

// RunApp is one entry of the run file's apps.
type RunApp struct {
	AppID          string `json:"appID"`
	AppDirPath     string `json:"appDirPath"`
	AppPort        int    `json:"appPort"`
	ConfigFilePath string `json:"configFilePath"`
	RunSettings
}

// Effective returns the app's settings, common ones filled in where the app
// sets none, and its environment on top of the common one.
func (r *RunFile) Effective(a RunApp) RunSettings {
	s := a.RunSettings
	c := r.Common.RunSettings
	if s.AppProtocol == "" {
		s.AppProtocol = c.AppProtocol
	}
	if s.EnableAppHealthCheck == nil {
		s.EnableAppHealthCheck = c.EnableAppHealthCheck
	}
	if s.AppHealthCheckPath == "" {
		s.AppHealthCheckPath = c.AppHealthCheckPath
	}
	if s.AppHealthProbeInterval == 0 {
		s.AppHealthProbeInterval = c.AppHealthProbeInterval
	}
	if s.AppHealthProbeTimeout == 0 {
		s.AppHealthProbeTimeout = c.AppHealthProbeTimeout
	}
	if s.AppHealthThreshold == 0 {
		s.AppHealthThreshold = c.AppHealthThreshold
	}
	env := map[string]any{}
	for k, v := range c.Env {
		env[k] = v
	}
	for k, v := range a.Env {
		env[k] = v
	}
	s.Env = env
	return s
}

// EnvNames returns the names of an environment, sorted.
func EnvNames(env map[string]any) []string {
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// ReadRepo reads the run file at root/dapr/dapr.yaml and what it points to.
// Paths in the run file are relative to its folder, and an app's
// configFilePath to its appDirPath, as the Dapr CLI reads them.
func ReadRepo(root string) (*Repo, error) {
	runPath := filepath.Join(root, "dapr", "dapr.yaml")
	b, err := os.ReadFile(runPath)
	if err != nil {
		return nil, err
	}
	repo := &Repo{Root: root}
	// Not strict: the run file has many fields a deployment has no use for.
	if err := yaml.Unmarshal(b, &repo.Run); err != nil {
		return nil, fmt.Errorf("%s: %w", runPath, err)
	}
	if len(repo.Run.Apps) == 0 {
		return nil, fmt.Errorf("%s: no apps", runPath)
	}
	runDir := filepath.Dir(runPath)
	for _, p := range repo.Run.Common.ResourcesPaths {
		if err := repo.readResources(filepath.Join(runDir, p)); err != nil {
			return nil, err
		}
	}
	if len(repo.Components) == 0 {
		return nil, fmt.Errorf("%s: its resourcesPaths hold no Dapr component", runPath)
	}
	for _, ra := range repo.Run.Apps {
		appDir := filepath.Join(runDir, ra.AppDirPath)
		app := App{RunApp: ra}
		cfgPath := filepath.Join(appDir, ra.ConfigFilePath)
		cfg := &configurationapi.Configuration{}
		if err := repo.readConfiguration(cfgPath, cfg); err != nil {
			return nil, err
		}
		app.Config = cfg
		app.ConfigFile, _ = filepath.Rel(root, cfgPath)
		var (
			port       int
			readsToken bool
		)
		if _, err := os.Stat(filepath.Join(appDir, "package.json")); err == nil {
			app.Node = true
			port, readsToken, err = readNodeConfig(filepath.Join(appDir, "src", "config.ts"))
			if err != nil {
				return nil, err
			}
		} else if port, readsToken, err = readMain(filepath.Join(appDir, "main.go")); err != nil {
			return nil, err
		}
		app.DefaultPort, app.ReadsAppToken = port, readsToken
		repo.Apps = append(repo.Apps, app)
	}
	return repo, nil
}

// App returns the run file's app with the id, or nil.
func (r *Repo) App(id string) *App {
	for i := range r.Apps {
		if r.Apps[i].AppID == id {
			return &r.Apps[i]
		}
	}
	return nil
}

// readResources reads every YAML file of a resources folder as daprd does:
// each document by its kind, decoded leniently (sigs.k8s.io/yaml.Unmarshal,
// as pkg/resiliency and the component loaders of Dapr 1.18.2 do), so that
// a field the Dapr type lacks is dropped, and recorded in Ignored.
func (r *Repo) readResources(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		docs, err := splitDocuments(b)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		rel, _ := filepath.Rel(r.Root, f)
		for _, doc := range docs {
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal(doc, &head); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			newObj, ok := kinds[head.APIVersion+"/"+head.Kind]
			if !ok {
				return fmt.Errorf("%s: %s/%s is not a resource daprd loads", f, head.APIVersion, head.Kind)
			}
			obj := newObj()
			ignored, err := decodeLenient(doc, obj, func() any { return newObj() })
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			if ignored != nil {
				r.Ignored = append(r.Ignored, fmt.Sprintf("%s: %s/%s: %v", rel, head.Kind, obj.GetName(), ignored))
			}
			switch obj := obj.(type) {
			case *componentsapi.Component:
				r.Components = append(r.Components, obj)
			case *subscriptionsapi.Subscription:
				r.Subscriptions = append(r.Subscriptions, obj)
			case *resiliencyapi.Resiliency:
				r.Resiliencies = append(r.Resiliencies, obj)
			default:
				return fmt.Errorf("%s: %s/%s is not a resource daprd loads", f, head.Kind, obj.GetName())
			}
		}
	}
	return nil
}

// readConfiguration reads an app's Configuration file as daprd does,
// leniently, recording in Ignored what it drops.
func (r *Repo) readConfiguration(path string, into *configurationapi.Configuration) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	ignored, err := decodeLenient(b, into, func() any { return &configurationapi.Configuration{} })
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if ignored != nil {
		rel, _ := filepath.Rel(r.Root, path)
		r.Ignored = append(r.Ignored, fmt.Sprintf("%s: Configuration/%s: %v", rel, into.Name, ignored))
	}
	return nil
}

// readMain reads two facts from a service's main.go, from its syntax tree
// rather than by running it (run needs a sidecar): the default of APP_PORT,
// the string literal that follows "APP_PORT" in the call that reads it
// (env.Or(getenv, "APP_PORT", "8080")), and whether the string "APP_API_TOKEN"
// appears in any call (getenv("APP_API_TOKEN")). A main.go that reads its
// port some other way is an error here: the check must then learn the new way.
func readMain(path string) (port int, readsAppToken bool, err error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return 0, false, err
	}
	var ports []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		for i, arg := range call.Args {
			s, ok := stringLit(arg)
			if !ok {
				continue
			}
			switch s {
			case "APP_PORT":
				if i+1 < len(call.Args) {
					if def, ok := stringLit(call.Args[i+1]); ok {
						ports = append(ports, def)
					}
				}
			case "APP_API_TOKEN":
				readsAppToken = true
			}
		}
		return true
	})
	if len(ports) != 1 {
		return 0, false, fmt.Errorf("%s: want one call reading APP_PORT with a string literal default, found %d", path, len(ports))
	}
	port, err = strconv.Atoi(ports[0])
	if err != nil {
		return 0, false, fmt.Errorf("%s: the default of APP_PORT, %q, is not a port", path, ports[0])
	}
	return port, readsAppToken, nil
}

// The two facts readMain reads, as a Node.js app's src/config.ts states
// them: getenv("APP_PORT") || "8086", and getenv("APP_API_TOKEN").
var (
	nodePortDefault = regexp.MustCompile(`getenv\("APP_PORT"\)\s*\|\|\s*"([^"]*)"`)
	nodeAppToken    = regexp.MustCompile(`getenv\("APP_API_TOKEN"\)`)
)

// readNodeConfig reads readMain's two facts from a Node.js app's settings
// module. A config.ts that reads its port some other way is an error here.
func readNodeConfig(path string) (port int, readsAppToken bool, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false, err
	}
	m := nodePortDefault.FindAllSubmatch(b, -1)
	if len(m) != 1 {
		return 0, false, fmt.Errorf(`%s: want one getenv("APP_PORT") || "<port>", found %d`, path, len(m))
	}
	port, err = strconv.Atoi(string(m[0][1]))
	if err != nil {
		return 0, false, fmt.Errorf("%s: the default of APP_PORT, %q, is not a port", path, m[0][1])
	}
	return port, nodeAppToken.Match(b), nil
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// RepoRoot finds the repository's root from dir, upwards: the first folder
// that holds dapr/dapr.yaml.
func RepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "dapr", "dapr.yaml")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no dapr/dapr.yaml above %s", dir)
		}
		dir = parent
	}
}

// envString renders a run-file env value as the environment holds it.
func envString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return strings.TrimSpace(fmt.Sprint(v))
	}
}
