package plugin

import (
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/crypt"
	"github.com/docker-backup/docker-backup/internal/storage"
)

// identityFlags are how commands that read archives open encrypted ones.
func identityFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "identity", Aliases: []string{"i"}, Usage: "Decrypt with the age identity or SSH private key in `FILE`"},
		&cli.StringFlag{Name: "passphrase-file", Usage: "Decrypt with the passphrase in `FILE`"},
	}
}

func identities(c *cli.Context) ([]age.Identity, error) {
	return crypt.Identities(c.String("identity"), c.String("passphrase-file"))
}

func decryptCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "decrypt",
		Usage:     "Write the plain archive of an encrypted one, for tar and zstd",
		ArgsUsage: "ARCHIVE",
		Description: `Decrypts an archive made with create --encrypt-to or --passphrase-file.
The plain archive holds the data in clear: keep it as safe as the database.`,
		Flags: append(identityFlags(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "Write to `FILE` (default: ARCHIVE without .age), or to stdout with -"},
		),
		Action: func(c *cli.Context) error {
			path, err := oneArchive(c, env, "decrypt")
			if err != nil {
				return err
			}
			out := c.String("output")
			if out == "" {
				if !strings.HasSuffix(path, crypt.Ext) {
					return fmt.Errorf("%s does not end in %s: name the output with -o", path, crypt.Ext)
				}
				out = strings.TrimSuffix(path, crypt.Ext)
			}
			ids, err := identities(c)
			if err != nil {
				return err
			}
			if err := crypt.DecryptFile(c.Context, path, out, ids, env.Stdout); err != nil {
				return err
			}
			if out != "-" {
				fmt.Fprintf(env.Stderr, "plain archive written to %s\n", out)
			}
			return nil
		},
	}
}

// openArchive opens a command's ARCHIVE argument, a path or a URL, and
// returns its plaintext (decrypted when it is an age file, with the
// --identity or --passphrase-file given), its size, and whether it was
// encrypted. close closes it. A stored archive is streamed, not copied.
func openArchive(c *cli.Context, env *Env, verb string) (path string, plain io.Reader, size int64, encrypted bool, close func(), err error) {
	if path, err = oneArchive(c, env, verb); err != nil {
		return
	}
	var f io.ReadCloser
	if storage.IsURL(path) {
		f, size, err = openStored(c, path)
		if err != nil {
			return
		}
	} else {
		var file *os.File
		if file, err = os.Open(path); err != nil {
			err = fmt.Errorf("cannot open the archive: %w", err)
			return
		}
		f = file
		var fi os.FileInfo
		if fi, err = file.Stat(); err != nil {
			file.Close()
			return
		}
		size = fi.Size()
	}
	close = func() { f.Close() }
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	ids, err := identities(c)
	if err != nil {
		return
	}
	if plain, encrypted, err = crypt.Open(f, ids); err != nil {
		err = fmt.Errorf("cannot read %s: %w", path, err)
		return
	}
	return path, plain, size, encrypted, close, nil
}

// openStored opens an archive named by URL, streaming.
func openStored(c *cli.Context, url string) (io.ReadCloser, int64, error) {
	store, name, err := storedArchive(c, url)
	if err != nil {
		return nil, 0, err
	}
	info, err := store.Stat(c.Context, name)
	if err != nil {
		return nil, 0, err
	}
	r, err := store.Open(c.Context, name)
	if err != nil {
		return nil, 0, err
	}
	return r, info.Size, nil
}

// storedArchive is the storage and name of an ARCHIVE given as a URL.
func storedArchive(c *cli.Context, url string) (storage.Backend, string, error) {
	wd, err := workDir(c)
	if err != nil {
		return nil, "", err
	}
	loc, err := storage.Parse(url, wd, storage.Object)
	if err != nil {
		return nil, "", err
	}
	cfg, err := storageConfig(c)
	if err != nil {
		return nil, "", err
	}
	store, err := storage.For(loc, cfg)
	if err != nil {
		return nil, "", err
	}
	return store, loc.Name, nil
}
