package backup

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/docker-backup/docker-backup/internal/project"
)

// noContainers is a container lister for project.Load with nothing running.
type noContainers struct{}

func (noContainers) ContainerList(context.Context, container.ListOptions) ([]container.Summary, error) {
	return nil, nil
}

// loadProject writes files into a temp folder and loads the project there.
func loadProject(t *testing.T, files map[string]string) *project.Project {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "shop")
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := project.Load(context.Background(), noContainers{}, project.Options{WorkingDir: dir, Environment: []string{"FROM_PROCESS=proc-Secret-3"}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRedactedModel(t *testing.T) {
	const (
		dbPassword   = "dotenv-Pa55word"
		envFileValue = "envfile-T0ken"
		configText   = "inline-config-C0ntent"
	)
	p := loadProject(t, map[string]string{
		".env":    "DB_PASSWORD=" + dbPassword + "\nPG_TAG=16\n",
		"app.env": "API_TOKEN=" + envFileValue + "\n",
		"compose.yaml": `
services:
  db:
    image: postgres:${PG_TAG}
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD}
      POSTGRES_USER: app
      FROM_PROCESS:
      UNSET_HERE:
    secrets: [db_password]
    configs: [app_config]
  app:
    image: myapp
    env_file: [app.env]
    environment:
      - DATABASE_URL=postgres://app:${DB_PASSWORD}@db/app
    depends_on: [db]
jobs:
  migrate:
    image: myapp
    triggers:
      manual: true
    environment:
      MIGRATE_PASSWORD: ${DB_PASSWORD}
secrets:
  db_password:
    environment: DB_PASSWORD
  from_file:
    file: ./secret.txt
configs:
  app_config:
    content: |
      ` + configText + `
      password=${DB_PASSWORD}
  plain:
    file: ./plain.conf
`,
	})
	out, err := redactedModel(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{dbPassword, envFileValue, configText, "proc-Secret-3"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("%q in the resolved model:\n%s", secret, out)
		}
	}

	var m struct {
		Name     string `json:"name"`
		Services map[string]struct {
			Image       string             `json:"image"`
			Environment map[string]*string `json:"environment"`
		} `json:"services"`
		Jobs map[string]struct {
			Environment map[string]*string `json:"environment"`
		} `json:"jobs"`
		Secrets map[string]map[string]any `json:"secrets"`
		Configs map[string]map[string]any `json:"configs"`
	}
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	// The image came from interpolation too: whatever a variable holds
	// is redacted, wherever it lands.
	if m.Name != "shop" || m.Services["db"].Image != redacted || m.Services["app"].Image != "myapp" {
		t.Errorf("name %q, db image %q, app image %q", m.Name, m.Services["db"].Image, m.Services["app"].Image)
	}
	env := m.Services["db"].Environment
	for _, k := range []string{"POSTGRES_PASSWORD", "POSTGRES_USER", "FROM_PROCESS"} {
		if env[k] == nil || *env[k] != redacted {
			t.Errorf("db %s = %v, want %q", k, env[k], redacted)
		}
	}
	if v, ok := env["UNSET_HERE"]; !ok || v != nil {
		t.Errorf("unset variable UNSET_HERE = %v %v: want kept, without a value", v, ok)
	}
	appEnv := m.Services["app"].Environment
	for _, k := range []string{"API_TOKEN", "DATABASE_URL"} {
		if appEnv[k] == nil || *appEnv[k] != redacted {
			t.Errorf("app %s = %v, want %q", k, appEnv[k], redacted)
		}
	}
	if v := m.Jobs["migrate"].Environment["MIGRATE_PASSWORD"]; v == nil || *v != redacted {
		t.Errorf("job environment %v, want %q", v, redacted)
	}
	if c, ok := m.Secrets["db_password"]["content"]; ok && c != redacted {
		t.Errorf("secret content %v", c)
	}
	if e := m.Secrets["db_password"]["environment"]; e != "DB_PASSWORD" {
		t.Errorf("secret from the environment %v: its variable's name is no secret", m.Secrets["db_password"])
	}
	if c := m.Configs["app_config"]["content"]; c != redacted {
		t.Errorf("config content %v, want %q", c, redacted)
	}
	if _, ok := m.Configs["plain"]["content"]; ok {
		t.Errorf("config from a file got a content: %v", m.Configs["plain"])
	}
	if f := m.Secrets["from_file"]["file"]; f == nil || !strings.HasSuffix(f.(string), "secret.txt") {
		t.Errorf("file secret %v: the path is no secret", m.Secrets["from_file"])
	}
}

func TestRedactedModelNoServicesEnvironment(t *testing.T) {
	p := loadProject(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: nginx\n"})
	out, err := redactedModel(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"nginx"`) {
		t.Errorf("model %s", out)
	}
}

// Interpolated values land in every field, not only environment: command,
// healthcheck, labels, build args, extensions. Each is redacted; what the
// compose file says literally stays.
func TestRedactedModelRedactsInterpolationEverywhere(t *testing.T) {
	const (
		dbPassword = "Interp0lated-Pa55"
		npmToken   = "npm-T0ken-xyz"
		label      = "label-S3cret"
	)
	p := loadProject(t, map[string]string{
		".env": "DB_PASSWORD=" + dbPassword + "\nNPM_TOKEN=" + npmToken + "\nLABEL_VALUE=" + label + "\n",
		"compose.yaml": `
services:
  db:
    image: postgres:16
    command: ["postgres", "-c", "app.pw=${DB_PASSWORD}"]
    healthcheck:
      test: ["CMD-SHELL", "PGPASSWORD=${DB_PASSWORD} pg_isready"]
    labels:
      org.example.token: ${LABEL_VALUE}
      org.example.plain: plain-label
  app:
    build:
      context: .
      args:
        NPM_TOKEN: ${NPM_TOKEN}
        LITERAL_ARG: literal-arg-value
    command: run --password ${DB_PASSWORD} --verbose
    x-custom:
      key: ${DB_PASSWORD}
`,
	})
	out, err := redactedModel(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{dbPassword, npmToken, label, "literal-arg-value"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("%q in the resolved model:\n%s", secret, out)
		}
	}
	for _, kept := range []string{`"plain-label"`, `"--verbose"`, `"postgres:16"`, `"run"`} {
		if !strings.Contains(string(out), kept) {
			t.Errorf("%s, which no variable gave, is gone:\n%s", kept, out)
		}
	}
}

// Compose files are archived as written, literal passwords included:
// create says so, naming the file and the variable, never the value.
func TestLiteralSecretsNoted(t *testing.T) {
	p := loadProject(t, map[string]string{
		".env":    "FROM_DOTENV=dotenv-Value-1\n",
		"app.env": "APP_TOKEN=envfile-Value-2\n",
		"compose.yaml": `
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: literal-Pa55word
      POSTGRES_PASSWORD_FILE: /run/secrets/pw
      MYSQL_PWD: ${FROM_DOTENV}
      DEBUG_PASSWORDS: "on"
      POSTGRES_USER: app
  app:
    image: app
    env_file: [app.env]
`,
	})
	notes := literalSecrets(p)
	if len(notes) != 1 || !strings.Contains(notes[0], "compose.yaml holds the value of POSTGRES_PASSWORD (service db)") {
		t.Fatalf("notes %q", notes)
	}
	for _, secret := range []string{"literal-Pa55word", "dotenv-Value-1", "envfile-Value-2"} {
		if strings.Contains(notes[0], secret) {
			t.Errorf("the note shows the value: %q", notes[0])
		}
	}
}
