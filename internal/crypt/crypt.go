// Package crypt encrypts archives with age (filippo.io/age) as a stream, so
// that no plaintext is ever written to disk, and decrypts them for the
// commands that read archives. Recipients are age X25519 keys, SSH public
// keys, or a passphrase (scrypt); identities are age identity files, SSH
// private keys, or the same passphrase.
package crypt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
)

// Ext ends the names of encrypted archives.
const Ext = ".age"

// magic starts every age file (its header's version line).
var magic = []byte("age-encryption.org/v1\n")

// ErrEncrypted: the archive is encrypted and no key or passphrase was given.
var ErrEncrypted = errors.New("the archive is encrypted with age")

// ErrWrongKey: none of the identities given opens the archive.
var ErrWrongKey = errors.New("the key or passphrase does not open the archive")

// Recipients builds the recipients of `create --encrypt-to`,
// `--recipients-file` and `--passphrase-file`. A passphrase cannot be
// combined with keys (age's rule: a passphrase-encrypted file has one
// recipient).
func Recipients(encryptTo []string, recipientsFile, passphraseFile string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, s := range encryptTo {
		r, err := parseRecipient(s)
		if err != nil {
			return nil, fmt.Errorf("--encrypt-to %q: %w", short(s), err)
		}
		out = append(out, r)
	}
	if recipientsFile != "" {
		b, err := os.ReadFile(recipientsFile)
		if err != nil {
			return nil, fmt.Errorf("reading the recipients file: %w", err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			r, err := parseRecipient(line)
			if err != nil {
				return nil, fmt.Errorf("%s line %d: %w", recipientsFile, i+1, err)
			}
			out = append(out, r)
		}
	}
	if passphraseFile != "" {
		if len(out) > 0 {
			return nil, fmt.Errorf("--passphrase-file cannot be combined with --encrypt-to or --recipients-file: choose keys or a passphrase")
		}
		pass, err := readPassphrase(passphraseFile)
		if err != nil {
			return nil, err
		}
		r, err := age.NewScryptRecipient(pass)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func parseRecipient(s string) (age.Recipient, error) {
	if strings.HasPrefix(s, "ssh-") {
		return agessh.ParseRecipient(s)
	}
	return age.ParseX25519Recipient(s)
}

// short keeps a key recognisable in an error without printing it whole.
func short(s string) string {
	if len(s) > 24 {
		return s[:24] + "..."
	}
	return s
}

// readPassphrase reads a passphrase file; a final newline is not part of
// the passphrase. The passphrase itself never appears in an error.
func readPassphrase(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the passphrase file: %w", err)
	}
	pass := strings.TrimRight(string(b), "\r\n")
	if pass == "" {
		return "", fmt.Errorf("the passphrase file %s is empty", path)
	}
	return pass, nil
}

// Identities reads the keys of `--identity` (an age identity file or an
// unencrypted SSH private key) and `--passphrase-file`.
func Identities(identityFile, passphraseFile string) ([]age.Identity, error) {
	var out []age.Identity
	if identityFile != "" {
		b, err := os.ReadFile(identityFile)
		if err != nil {
			return nil, fmt.Errorf("reading the identity file: %w", err)
		}
		if bytes.Contains(b, []byte("PRIVATE KEY-----")) {
			id, err := agessh.ParseIdentity(b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w (passphrase-protected SSH keys are not supported: use an age key)", identityFile, err)
			}
			out = append(out, id)
		} else {
			ids, err := age.ParseIdentities(bytes.NewReader(b))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", identityFile, err)
			}
			out = append(out, ids...)
		}
	}
	if passphraseFile != "" {
		pass, err := readPassphrase(passphraseFile)
		if err != nil {
			return nil, err
		}
		id, err := age.NewScryptIdentity(pass)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

// Encrypt wraps w: what is written to the result is encrypted to the
// recipients; Close finishes the age stream (it does not close w).
func Encrypt(w io.Writer, recipients []age.Recipient) (io.WriteCloser, error) {
	ew, err := age.Encrypt(w, recipients...)
	if err != nil {
		return nil, fmt.Errorf("starting age encryption: %w", err)
	}
	return ew, nil
}

// IsEncrypted tells whether r, peeked, starts with an age header.
func IsEncrypted(r *bufio.Reader) bool {
	b, _ := r.Peek(len(magic))
	return bytes.Equal(b, magic)
}

// Open returns the plaintext of r: r itself when it is not encrypted, else
// the age stream decrypted with ids. Authentication errors surface while
// reading, as age checks each chunk.
func Open(r io.Reader, ids []age.Identity) (io.Reader, bool, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if !IsEncrypted(br) {
		return br, false, nil
	}
	if len(ids) == 0 {
		return nil, true, fmt.Errorf("%w: give --identity FILE or --passphrase-file FILE", ErrEncrypted)
	}
	pr, err := age.Decrypt(br, ids...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) || strings.Contains(err.Error(), "incorrect passphrase") {
			return nil, true, fmt.Errorf("%w: %v", ErrWrongKey, err)
		}
		return nil, true, fmt.Errorf("cannot decrypt the archive: %w", err)
	}
	return pr, true, nil
}
