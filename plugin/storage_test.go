package plugin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/storage"
)

// storageConfigOf runs a command with the storage flags and returns what
// storageConfig made of args and the environment.
func storageConfigOf(t *testing.T, args ...string) (storage.Config, error) {
	t.Helper()
	var cfg storage.Config
	var cerr error
	app := &cli.App{Name: "t", Commands: []*cli.Command{{
		Name: "c", Flags: storageFlags(),
		Action: func(c *cli.Context) error { cfg, cerr = storageConfig(c); return nil },
	}}}
	if err := app.Run(append([]string{"t", "c"}, args...)); err != nil {
		t.Fatal(err)
	}
	return cfg, cerr
}

func TestStorageConfigReadsTheAWSSettings(t *testing.T) {
	for _, v := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
		"AWS_ACCESS_KEY_ID_FILE", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY_FILE", "AWS_PROFILE", "AWS_CA_BUNDLE", "AWS_SESSION_TOKEN"} {
		t.Setenv(v, "")
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("s3cr3t-from-file\n"), 0o600)
	keyID := filepath.Join(dir, "id")
	os.WriteFile(keyID, []byte("AKIDFROMFILE\n"), 0o600)

	// An empty variable is unset, as for the AWS tools: the next one counts.
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
	t.Setenv("AWS_DEFAULT_REGION", "eu-west-3")
	t.Setenv("AWS_ACCESS_KEY_ID_FILE", keyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY_FILE", secret)
	cfg, err := storageConfigOf(t)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.S3
	if s.Endpoint != "http://127.0.0.1:9000" || s.Region != "eu-west-3" || s.AccessKeyID != "AKIDFROMFILE" || s.SecretAccessKey != "s3cr3t-from-file" || s.PartSize != 16<<20 || s.MaxParts != 10000 {
		t.Errorf("from the environment: %+v", s)
	}

	// AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL; a flag over both.
	t.Setenv("AWS_ENDPOINT_URL_S3", "https://s3.example.com")
	if cfg, _ := storageConfigOf(t); cfg.S3.Endpoint != "https://s3.example.com" {
		t.Errorf("AWS_ENDPOINT_URL_S3: %q", cfg.S3.Endpoint)
	}
	if cfg, _ := storageConfigOf(t, "--s3-endpoint", "http://localhost:1", "--s3-part-size", "64MiB", "--s3-max-parts", "1000"); cfg.S3.Endpoint != "http://localhost:1" || cfg.S3.PartSize != 64<<20 || cfg.S3.MaxParts != 1000 {
		t.Errorf("flags: %+v", cfg.S3)
	}
	// The secret itself from the environment wins over a file variable.
	t.Setenv("AWS_SECRET_ACCESS_KEY", "from-env")
	if cfg, _ := storageConfigOf(t); cfg.S3.SecretAccessKey != "from-env" {
		t.Errorf("AWS_SECRET_ACCESS_KEY: %q", cfg.S3.SecretAccessKey)
	}
	// An unreadable secret file: an error that does not show any secret.
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY_FILE", filepath.Join(dir, "missing"))
	if _, err := storageConfigOf(t); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("missing secret file: %v", err)
	}
	if _, err := storageConfigOf(t, "--s3-secret-access-key-file", secret, "--s3-part-size", "lots"); err == nil {
		t.Error("a bad part size was accepted")
	}
}
