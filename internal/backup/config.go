package backup

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/project"
)

// redacted replaces values that may hold secrets in the resolved model.
const redacted = "<redacted by docker-backup>"

// writeConfig stores the compose files as they are, the resolved model
// (with environment values and inline secrets redacted: interpolation may
// have brought in passwords from .env), and .env only when asked.
func writeConfig(w *archive.Writer, p *project.Project, opts Options, res *Result) error {
	seen := map[string]int{}
	add := func(name string, data []byte, mode int64, mtime time.Time) error {
		base := filepath.Base(name)
		if n := seen[base]; n > 0 {
			base = fmt.Sprintf("%d-%s", n, base)
		}
		seen[filepath.Base(name)]++
		path := archive.ComposeDir + base
		if err := w.WriteFile(path, mode, mtime, data); err != nil {
			return fmt.Errorf("writing %s to the archive: %w", path, err)
		}
		res.Entries = append(res.Entries, Entry{Kind: "config", Name: name, Path: path, Size: int64(len(data))})
		return nil
	}
	addFile := func(name string) error {
		data, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		fi, err := os.Stat(name)
		if err != nil {
			return err
		}
		return add(name, data, int64(fi.Mode().Perm()), fi.ModTime())
	}
	for _, f := range p.ConfigFiles {
		if f == "-" || f == "" {
			continue
		}
		if err := addFile(f); err != nil {
			return err
		}
	}
	if p.Model == nil {
		return nil
	}
	resolved, err := redactedModel(p)
	if err != nil {
		return fmt.Errorf("writing the resolved compose model: %w", err)
	}
	if err := add("resolved.json", resolved, 0o600, time.Now()); err != nil {
		return err
	}
	if opts.IncludeEnv {
		env := filepath.Join(p.WorkingDir, ".env")
		if _, err := os.Stat(env); err == nil {
			if err := addFile(env); err != nil {
				return err
			}
		}
	}
	return nil
}

// redactedModel is the resolved model as `docker compose config --format
// json` prints it, with every value that came from interpolation (in any
// field: image, command, healthcheck, labels, extensions...) or from an
// environment (environment, build args) replaced, and inline secret and
// config contents too. The compose files as written are archived beside
// it: they are what rebuilds the project.
func redactedModel(p *project.Project) ([]byte, error) {
	raw, err := p.Model.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	// Jobs are containers too, with an environment of their own.
	for _, key := range []string{"services", "jobs"} {
		if services, ok := m[key].(map[string]any); ok {
			for _, s := range services {
				svc, _ := s.(map[string]any)
				redactValues(svc["environment"])
				if build, ok := svc["build"].(map[string]any); ok {
					redactValues(build["args"])
				}
			}
		}
	}
	for _, key := range []string{"secrets", "configs"} {
		if items, ok := m[key].(map[string]any); ok {
			for _, it := range items {
				if obj, ok := it.(map[string]any); ok {
					if _, has := obj["content"]; has {
						obj["content"] = redacted
					}
				}
			}
		}
	}
	redactInterpolated(m, p.Interpolated)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// redactValues replaces every value of a mapping (an environment, build
// args) that has one.
func redactValues(v any) {
	if env, ok := v.(map[string]any); ok {
		for k, val := range env {
			if val != nil {
				env[k] = redacted
			}
		}
	}
}

// redactInterpolated replaces, anywhere in v, the strings interpolation
// made or that hold a value it substituted.
func redactInterpolated(v any, in *project.Interpolated) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok {
				if s != redacted && in.Holds(s) {
					x[k] = redacted
				}
				continue
			}
			redactInterpolated(val, in)
		}
	case []any:
		for i, val := range x {
			if s, ok := val.(string); ok {
				if in.Holds(s) {
					x[i] = redacted
				}
				continue
			}
			redactInterpolated(val, in)
		}
	}
}

// secretName matches the names of variables that usually hold a secret.
var secretName = regexp.MustCompile(`(?i)(PASSW|PASSWD|PWD|SECRET|TOKEN|PRIVATE|API_?KEY|ACCESS_?KEY)`)

// literalSecrets notes the compose files that hold, as written, a value
// for a variable named like a password: they are archived as they are
// (a restore on a new host needs them), so the archive holds it too. The
// value itself is never named.
func literalSecrets(p *project.Project) []string {
	if p.Model == nil {
		return nil
	}
	files := map[string][]byte{}
	for _, f := range p.ConfigFiles {
		if b, err := os.ReadFile(f); err == nil {
			files[f] = b
		}
	}
	var notes []string
	seen := map[string]bool{}
	check := func(kind, name string, env types.MappingWithEquals) {
		keys := make([]string, 0, len(env))
		for k := range env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := env[k]
			if v == nil || len(*v) < minSecret || !secretName.MatchString(k) || strings.HasSuffix(k, "_FILE") || p.Interpolated.Holds(*v) {
				continue
			}
			for _, f := range p.ConfigFiles {
				if bytes.Contains(files[f], []byte(*v)) && !seen[f+k] {
					seen[f+k] = true
					notes = append(notes, fmt.Sprintf("compose file %s holds the value of %s (%s %s) as written, and is archived as it is: move the value to a secret (%s_FILE, where the image reads one) or to .env, which create leaves out unless --include-env",
						filepath.Base(f), k, kind, name, k))
				}
			}
		}
	}
	for _, name := range sortedKeys(p.Model.Services) {
		check("service", name, p.Model.Services[name].Environment)
	}
	return notes
}

// minSecret: shorter values ("1", "on") are flags, not passwords.
const minSecret = 4

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
