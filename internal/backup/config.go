package backup

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

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
// json` prints it, with environment values and inline secret and config
// contents replaced.
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
				if env, ok := svc["environment"].(map[string]any); ok {
					for k, v := range env {
						if v != nil {
							env[k] = redacted
						}
					}
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
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
