package plugin

import (
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/restore"
	"github.com/docker-backup/docker-backup/internal/sign"
)

func verifyCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "Check every entry of an archive against its manifest's sizes and SHA-256",
		ArgsUsage: "ARCHIVE|URL",
		Description: `Reads the whole archive, streaming (from a bucket too, without a local copy), and checks that nothing is missing,
truncated, corrupt or unlisted, and that no dump holds anything but SQL
for its database client (no psql meta-command, no mysql client command). With --deep it also restores every database
into a throwaway container of the original service's image (no network, a
temporary volume, both removed afterwards) and counts what came back.
With --trust, the archive must be signed (create --sign: ARCHIVE.sig beside
it) by a key of the trust list, or it is refused before it is read; a
signature that comes with an archive is checked in any case.
Exits non-zero on any problem.`,
		Flags: append(append(identityFlags(),
			&cli.BoolFlag{Name: "deep", Usage: "Also test-restore every database into a throwaway container and count its tables' rows"},
			&cli.BoolFlag{Name: "json", Usage: "Print the result as JSON on stdout: what was checked and the signature; with --deep, the test restores' results"},
			trustFlag("Without it, an archive's signature is checked if it has one."),
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "Print nothing but errors"},
		), append(limitsFlags(), storageFlags()...)...),
		Action: func(c *cli.Context) error {
			lim, err := limits(c)
			if err != nil {
				return err
			}
			vo, err := verifySignature(c, env)
			if err != nil {
				return err
			}
			path, plain, _, encrypted, closeFile, err := openArchive(c, env, "verify")
			if err != nil {
				return err
			}
			defer closeFile()
			vo.Limits = lim
			m, signed, err := restore.VerifySigned(c.Context, plain, vo)
			if err != nil {
				return fmt.Errorf("%s failed verification: %w", path, err)
			}
			if c.Bool("json") && !c.Bool("deep") {
				return printJSON(env.Stdout, verifiedOf(path, m, encrypted, signed))
			}
			if !c.Bool("quiet") {
				var bytes int64
				for _, file := range m.Files {
					bytes += file.Size
				}
				for _, v := range m.Volumes {
					bytes += v.Bytes
				}
				dumps := 0
				for _, d := range m.Databases {
					dumps += len(d.Dumps)
				}
				how := ""
				if encrypted {
					how = ", decrypted with age"
				}
				if signed.Signed || vo.Trust != nil {
					how += ", " + signed.String()
				}
				fmt.Fprintf(env.Stderr, "%s: OK (project %s, %d dump(s), %d volume(s), %s checked%s)\n", path, m.Project.Name, dumps, len(m.Volumes), backup.HumanBytes(bytes), how)
			}
			if !c.Bool("deep") {
				return nil
			}
			return deepVerify(c, env, path, m, lim)
		},
	}
}

// verifySignature reads --trust and the archive's signature, and refuses
// an archive the trust list does not admit before it is opened.
func verifySignature(c *cli.Context, env *Env) (restore.VerifyOptions, error) {
	var vo restore.VerifyOptions
	path, err := oneArchive(c, env, "verify")
	if err != nil {
		return vo, err
	}
	if vo.Trust, err = trustList(c); err != nil {
		return vo, err
	}
	if vo.Signature, err = archiveSignature(c, path); err != nil {
		return vo, err
	}
	if _, err := vo.Admit(); err != nil {
		return vo, fmt.Errorf("%s refused: %w", path, err)
	}
	return vo, nil
}

// verified is verify --json's answer without --deep.
type verified struct {
	Archive   string      `json:"archive"`
	Project   string      `json:"project"`
	CreatedAt string      `json:"createdAt"`
	Dumps     int         `json:"dumps"`
	Volumes   int         `json:"volumes"`
	Bytes     int64       `json:"bytes"`
	Encrypted bool        `json:"encrypted"`
	Signature sign.Status `json:"signature"`
}

func verifiedOf(path string, m *archive.Manifest, encrypted bool, signed sign.Status) verified {
	v := verified{Archive: path, Project: m.Project.Name, CreatedAt: m.CreatedAt.UTC().Format(time.RFC3339), Volumes: len(m.Volumes), Encrypted: encrypted, Signature: signed}
	for _, f := range m.Files {
		v.Bytes += f.Size
	}
	for _, vol := range m.Volumes {
		v.Bytes += vol.Bytes
	}
	for _, d := range m.Databases {
		v.Dumps += len(d.Dumps)
	}
	return v
}

// deepVerify test-restores the archive's databases and reports them.
func deepVerify(c *cli.Context, env *Env, path string, m *archive.Manifest, lim archive.Limits) error {
	api, err := env.Client(c.Context)
	if err != nil {
		return err
	}
	var files []func()
	defer func() {
		for _, f := range files {
			f()
		}
	}()
	open := func() (io.Reader, error) {
		_, plain, _, _, closeFile, err := openArchive(c, env, "verify")
		if err != nil {
			return nil, err
		}
		files = append(files, closeFile)
		return plain, nil
	}
	progress, log, wait := reporting(env, c.Bool("quiet") || c.Bool("json"))
	// The throwaway servers carry this run's job: if it is killed, the
	// next run, from wherever, finds them stale and removes them.
	ctx, release, err := jobLease(c.Context, api, "verify --deep")
	if err != nil {
		wait()
		return err
	}
	defer release()
	eng := engine.New(api)
	backup.RemoveStaleHelpers(ctx, eng, jobGone(api), "", log)
	results, err := restore.DeepVerify(ctx, eng, m, open, progress, lim)
	wait()
	if err != nil {
		return err
	}
	failed := 0
	for _, r := range results {
		if !r.OK {
			failed++
		}
	}
	if c.Bool("json") {
		if err := printJSON(env.Stdout, results); err != nil {
			return err
		}
	} else if !c.Bool("quiet") {
		for _, r := range results {
			if !r.OK {
				fmt.Fprintf(env.Stderr, "%s/%s: FAILED: %s\n", r.Service, r.Database, r.Error)
				continue
			}
			fmt.Fprintf(env.Stderr, "%s/%s: restored, %d table(s), %d row(s)\n", r.Service, r.Database, len(r.Tables), r.Rows)
			for _, t := range r.Tables {
				fmt.Fprintf(env.Stderr, "  %s: %d\n", t.Table, t.Rows)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%s: %d of %d database(s) did not restore", path, failed, len(results))
	}
	return nil
}
