package crypt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"filippo.io/age"

	"github.com/docker-backup/docker-backup/internal/ctxio"
)

// DecryptFile writes the plaintext of the age file src to dst ("-":
// stdout) for tools that read plain archives. The file is written under a
// temporary name beside dst, with mode 0600, fsynced, and put in place only
// once the whole stream decrypted and authenticated: a wrong key or a
// damaged file leaves nothing behind.
func DecryptFile(ctx context.Context, src, dst string, ids []age.Identity, stdout io.Writer) (err error) {
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
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s already exists: choose another name with -o", dst)
	}
	dir := filepath.Dir(dst)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".*.partial")
	if err != nil {
		return fmt.Errorf("cannot write to %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := io.Copy(tmp, r); err != nil {
		return fmt.Errorf("decrypting %s: %w", src, err)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// Link, not rename: never replaces a file that appeared meanwhile.
	if err := os.Link(tmp.Name(), dst); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s appeared meanwhile: choose another name with -o", dst)
		}
		return fmt.Errorf("cannot create %s: %w", dst, err)
	}
	os.Remove(tmp.Name())
	return nil
}
