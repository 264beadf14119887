package crypt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"filippo.io/age"

	"github.com/docker-backup/docker-backup/internal/ctxio"
	"github.com/docker-backup/docker-backup/internal/storage"
)

// DecryptFile writes the plaintext of the age file src to dst ("-":
// stdout) for tools that read plain archives. The file is written under a
// temporary name beside dst, with mode 0600, fsynced, and put in place only
// once the whole stream decrypted and authenticated: a wrong key or a
// damaged file leaves nothing behind.
func DecryptFile(ctx context.Context, src, dst string, ids []age.Identity, stdout io.Writer) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("cannot open the archive: %w", err)
	}
	defer in.Close()
	plain, encrypted, err := Open(in, ids)
	if err != nil {
		return err
	}
	if !encrypted {
		return fmt.Errorf("%s is not encrypted: use it as it is", src)
	}
	r := ctxio.Reader(ctx, plain)
	if dst == "-" {
		if _, err := io.Copy(stdout, r); err != nil {
			return fmt.Errorf("decrypting %s: %w", src, err)
		}
		return nil
	}
	// Written as archives are: under a temporary name beside dst, 0600,
	// synced, and linked to its name only once complete.
	out, err := storage.NewLocal(filepath.Dir(dst)).Create(ctx, filepath.Base(dst))
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		return errors.Join(fmt.Errorf("decrypting %s: %w", src, err), out.Abort(context.WithoutCancel(ctx)))
	}
	return out.Commit(ctx)
}
