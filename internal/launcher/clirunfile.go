package launcher

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// The Dapr CLI runs a run file as written: it reads each app's
// Configuration, name resolution included, from configFilePath, and the
// components from resourcesPaths (components/local). For another profile or
// a name resolution other than the one in dapr/config/ (SQLite),
// Config.Infra writes a copy of the run file: the same description of the
// system, with components/<profile> in resourcesPaths and each app's
// configFilePath pointing at the Configuration useNameResolution made.
// Every path in the copy is absolute, so it runs from anywhere.

// CLIRunFile is the run file to give `dapr run -f` for the system as
// started: the launcher's own (dapr/dapr.yaml) for the local profile with
// the default name resolution, otherwise the copy Config.Infra writes (in
// the profile's data folder; for the local profile, next to the name
// resolution's Configurations).
func (s *System) CLIRunFile() string {
	nr, tr := s.cfg.NameResolution, s.cfg.Tracing
	otherNR := nr != "" && nr != "sqlite"
	switch {
	case s.cfg.Profile != "local":
		return filepath.Join(s.DataDir(), "dapr.yaml")
	case tr != "" && tr != "otel":
		// Next to the Configurations with its tracing block, which hold the
		// name resolution's too.
		return filepath.Join(s.cfg.RootDir, ".data", "tracing", tr, "dapr.yaml")
	case otherNR:
		return filepath.Join(s.cfg.RootDir, ".data", "nameresolution", nr, "dapr.yaml")
	default:
		return s.cfg.RunFile
	}
}

// writeCLIRunFile writes CLIRunFile when it is a copy (a no-op otherwise).
func (s *System) writeCLIRunFile() error {
	dst := s.CLIRunFile()
	if dst == s.cfg.RunFile {
		return nil
	}
	configs := make(map[string]string, len(s.apps))
	for _, a := range s.apps {
		configs[a.AppID] = a.ConfigFile
	}
	out, err := cliRunFileWith(s.cfg.RunFile, configs, s.cfg.Profile, cmp(s.cfg.NameResolution, "sqlite"))
	if err != nil {
		return err
	}
	return os.WriteFile(dst, out, 0o644)
}

// cliRunFileWith returns the run file at path with every path made
// absolute, components/local made components/<profile> (as LoadRunFile
// does), and each app's configFilePath replaced by configs[appID].
func cliRunFileWith(path string, configs map[string]string, profile, nameResolution string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	base, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	root := doc.Content[0]
	// The original's opening comment tells how to run the original.
	doc.HeadComment, root.HeadComment = "", ""
	if len(root.Content) > 0 {
		root.Content[0].HeadComment = "" // yaml.v3 keeps it on the first key
	}
	absolute(mapValue(root, "common"), base, profile)
	apps := mapValue(root, "apps")
	if apps == nil || apps.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s lists no apps", path)
	}
	for _, app := range apps.Content {
		id := mapValue(app, "appID")
		dir := mapValue(app, "appDirPath")
		if id == nil || dir == nil {
			return nil, fmt.Errorf("%s: an app without appID or appDirPath", path)
		}
		cfg, ok := configs[id.Value]
		if !ok {
			return nil, fmt.Errorf("%s: no Configuration for app %s", path, id.Value)
		}
		// configFilePath and resourcesPaths are relative to the app's
		// folder, which is relative to the run file's.
		appDir := resolve(base, dir.Value)
		absolute(app, appDir, profile)
		dir.Value = appDir
		if c := mapValue(app, "configFilePath"); c != nil {
			c.Value = cfg
		} else {
			app.Content = append(app.Content,
				&yaml.Node{Kind: yaml.ScalarNode, Value: "configFilePath"},
				&yaml.Node{Kind: yaml.ScalarNode, Value: cfg})
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "# Made by `make infra PROFILE=%s NAMERESOLUTION=%s` from %s for the Dapr CLI:\n", profile, nameResolution, path)
	fmt.Fprintf(&out, "# the same system, with the components of components/%s, each app's\n", profile)
	fmt.Fprintf(&out, "# configFilePath pointing at its Configuration with the nameResolution of\n# dapr/nameresolution/%s.yaml. Edit those, not this.\n", nameResolution)
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return []byte(out.String()), nil
}

// absolute makes the configFilePath and resourcesPaths of a run file's
// section (common, or one app) absolute, from base, with the profile's
// components (resolveAll's rule).
func absolute(section *yaml.Node, base, profile string) {
	if section == nil {
		return
	}
	if c := mapValue(section, "configFilePath"); c != nil && c.Value != "" {
		c.Value = resolve(base, c.Value)
	}
	if rs := mapValue(section, "resourcesPaths"); rs != nil {
		for _, r := range rs.Content {
			r.Value = resolveAll(base, []string{r.Value}, profile)[0]
		}
	}
}
