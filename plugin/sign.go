package plugin

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/restore"
	"github.com/docker-backup/docker-backup/internal/sign"
	"github.com/docker-backup/docker-backup/internal/storage"
)

// trustEnv is the variable of --trust everywhere: the daemon's, and that
// of a host whose restores must all be signed.
const trustEnv = "BACKUP_TRUST_FILE"

// signEnv is the daemon's variable of --sign.
const signEnv = "BACKUP_SIGN_KEY_FILE"

// trustFlag is how commands that read archives to restore them take a
// trust list.
func trustFlag(what string) cli.Flag {
	return &cli.StringSliceFlag{Name: "trust", EnvVars: []string{trustEnv},
		Usage: "Accept only archives signed (create --sign) by a key listed in `FILE`: public keys, one per line, as in a .pub file, authorized_keys or allowed_signers; repeatable. " + what}
}

// signFlag is create's and the daemon's --sign.
func signFlag() cli.Flag {
	return &cli.StringFlag{Name: "sign", Usage: "Sign each archive with the SSH ed25519 private key in `FILE` (no passphrase): the signature goes beside it, NAME.sig, for verify, restore and standby --trust, and ssh-keygen -Y verify"}
}

// trustList reads --trust; nil without it.
func trustList(c *cli.Context) (*sign.Trust, error) {
	t, err := sign.LoadTrust(c.StringSlice("trust"))
	if err != nil {
		return nil, fmt.Errorf("--trust (%s): %w", trustEnv, err)
	}
	return t, nil
}

// signingKey reads --sign, named label in errors; nil without it.
func signingKey(c *cli.Context, label string) (*sign.Key, error) {
	f := c.String("sign")
	if f == "" {
		return nil, nil
	}
	k, err := sign.LoadKey(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	return k, nil
}

// archiveSignature is the signature of a command's ARCHIVE: ARCHIVE.sig
// beside a local file; for a URL, NAME.sig in the storage, else its
// index's copy. Nil when there is none.
func archiveSignature(c *cli.Context, path string) ([]byte, error) {
	if !storage.IsURL(path) {
		return sign.ReadFile(path)
	}
	store, name, err := storedArchive(c, path)
	if err != nil {
		return nil, err
	}
	return restore.StoredSignature(c.Context, store, name)
}
