package plugin

import (
	"fmt"
	"os"
	"strings"

	"github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/storage"
)

const s3Category = "S3 storage (s3://BUCKET/PREFIX), configured as the AWS tools are"

// storageFlags configure the storages a location may name. The secret
// access key has no flag: a command line is visible to every user of the
// host, so it comes from AWS_SECRET_ACCESS_KEY, a file or a profile.
func storageFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "s3-endpoint", Category: s3Category,
			Usage: "S3 service `URL`, http:// or https:// (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS itself)"},
		&cli.StringFlag{Name: "s3-region", Category: s3Category,
			Usage: "S3 `REGION` (default: AWS_REGION, AWS_DEFAULT_REGION, or the bucket's, asked from the service)"},
		&cli.StringFlag{Name: "s3-access-key-id", Category: s3Category,
			Usage: "Access key `ID` (default: AWS_ACCESS_KEY_ID, AWS_ACCESS_KEY_ID_FILE, or the profile's)"},
		&cli.StringFlag{Name: "s3-secret-access-key-file", Category: s3Category,
			Usage: "Read the secret access key from `FILE` (default: AWS_SECRET_ACCESS_KEY, AWS_SECRET_ACCESS_KEY_FILE, or the profile's)"},
		&cli.StringFlag{Name: "s3-profile", Category: s3Category,
			Usage: "Profile `NAME` in the shared credentials and config files, ~/.aws/credentials and ~/.aws/config (default: AWS_PROFILE, or default)"},
		&cli.StringFlag{Name: "s3-ca-bundle", Category: s3Category,
			Usage: "Also trust the CA certificates in PEM `FILE` (default: AWS_CA_BUNDLE)"},
		&cli.BoolFlag{Name: "s3-path-style", Category: s3Category,
			Usage: "Path-style requests (host/bucket/key); default for an IP address or localhost, virtual-host style otherwise"},
		&cli.StringFlag{Name: "s3-storage-class", Category: s3Category,
			Usage: "Storage `CLASS` of new archives (STANDARD_IA, GLACIER_IR, ...)"},
		&cli.StringFlag{Name: "s3-sse", Category: s3Category,
			Usage: "Server-side encryption of new archives: AES256 or aws:kms"},
		&cli.StringFlag{Name: "s3-sse-kms-key-id", Category: s3Category,
			Usage: "KMS key `ID` with --s3-sse aws:kms"},
		&cli.StringFlag{Name: "s3-part-size", Value: "16MiB", Category: s3Category,
			Usage: "Upload parts of at least `SIZE` (two are held in memory; they grow to fit 500 GB in --s3-max-parts)"},
		&cli.IntFlag{Name: "s3-max-parts", Value: storage.DefaultMaxParts, Category: s3Category,
			Usage: "The service's limit on parts per upload (`N`; 1000 on some, e.g. Scaleway)"},
	}
}

// setting is a flag's value, else the first of the AWS variables that is
// set and not empty (as the AWS tools read them).
func setting(c *cli.Context, flag string, vars ...string) string {
	if c.IsSet(flag) {
		return c.String(flag)
	}
	for _, v := range vars {
		if s := os.Getenv(v); s != "" {
			return s
		}
	}
	return ""
}

// storageConfig reads the storage flags and the AWS variables.
func storageConfig(c *cli.Context) (storage.Config, error) {
	s := storage.S3Config{
		Endpoint:     setting(c, "s3-endpoint", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
		Region:       setting(c, "s3-region", "AWS_REGION", "AWS_DEFAULT_REGION"),
		AccessKeyID:  setting(c, "s3-access-key-id", "AWS_ACCESS_KEY_ID"),
		Profile:      setting(c, "s3-profile", "AWS_PROFILE"),
		CABundle:     setting(c, "s3-ca-bundle", "AWS_CA_BUNDLE"),
		PathStyle:    c.Bool("s3-path-style"),
		StorageClass: c.String("s3-storage-class"),
		SSE:          c.String("s3-sse"),
		SSEKMSKeyID:  c.String("s3-sse-kms-key-id"),
		MaxParts:     c.Int("s3-max-parts"),
		SessionToken: os.Getenv("AWS_SESSION_TOKEN"),
	}
	if s.AccessKeyID == "" {
		if f := os.Getenv("AWS_ACCESS_KEY_ID_FILE"); f != "" {
			v, err := secretFile(f, "AWS_ACCESS_KEY_ID_FILE")
			if err != nil {
				return storage.Config{}, err
			}
			s.AccessKeyID = v
		}
	}
	if f := setting(c, "s3-secret-access-key-file", "AWS_SECRET_ACCESS_KEY_FILE"); f != "" && (c.IsSet("s3-secret-access-key-file") || os.Getenv("AWS_SECRET_ACCESS_KEY") == "") {
		v, err := secretFile(f, "the secret access key file")
		if err != nil {
			return storage.Config{}, err
		}
		s.SecretAccessKey = v
	} else {
		s.SecretAccessKey = os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	size, err := units.RAMInBytes(c.String("s3-part-size"))
	if err != nil {
		return storage.Config{}, fmt.Errorf("--s3-part-size %q: %w", c.String("s3-part-size"), err)
	}
	s.PartSize = size
	return storage.Config{S3: s}, nil
}

// secretFile reads a one-line secret; the error never shows the content.
func secretFile(path, what string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", what, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s %s is empty", what, path)
	}
	return v, nil
}

// workDir is where relative locations start: the project's folder when
// given, else the current one.
func workDir(c *cli.Context) (string, error) {
	if d := c.String("project-directory"); d != "" {
		return d, nil
	}
	return os.Getwd()
}
