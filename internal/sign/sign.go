// Package sign signs archives and checks their signatures: SSH ed25519
// keys, in the sshsig format that `ssh-keygen -Y sign` writes and
// `ssh-keygen -Y verify` checks, over the exact bytes of the archive's
// manifest.json (which holds the size and SHA-256 of everything else), in
// the namespace "docker-backup". The signature is kept beside the archive,
// NAME.sig, and in its index.
package sign

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// Namespace is the sshsig namespace of archive signatures: a signature
// made for anything else (git commits, files) never passes for one.
const Namespace = "docker-backup"

// Ext ends the name of an archive's signature: NAME.sig, as ssh-keygen
// -Y sign names it.
const Ext = ".sig"

// MaxSize bounds what is read of a signature: an ed25519 one is about
// 300 bytes, and a huge object under that name is not one.
const MaxSize = 16 << 10

// hash is the hash the signature covers, ssh-keygen's default.
const hash = sshsig.HashSHA512

var (
	// ErrUnsigned: a trust list is configured and the archive comes
	// without a signature.
	ErrUnsigned = errors.New("the archive is not signed")
	// ErrUntrusted: the archive is signed by a key the trust list does
	// not hold.
	ErrUntrusted = errors.New("the archive is signed by a key that is not trusted")
	// ErrBadSignature: the signature is malformed, made for another
	// purpose, or does not match the archive's manifest.
	ErrBadSignature = errors.New("the archive's signature does not match it")
	// ErrKey: the signing key cannot be used.
	ErrKey = errors.New("unusable signing key")
)

// Key is a private key that signs archives.
type Key struct {
	signer ssh.Signer
}

// LoadKey reads an OpenSSH ed25519 private key without passphrase (the
// backup runs unattended: nobody is there to type one).
func LoadKey(path string) (*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return ParseKey(data, path)
}

// ParseKey reads a private key; name is where it came from, for errors.
func ParseKey(data []byte, name string) (*Key, error) {
	raw, err := ssh.ParseRawPrivateKey(data)
	if err != nil {
		var pm *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &pm):
			return nil, fmt.Errorf("%w: %s is protected by a passphrase, and backups sign unattended: make a key for them without one (ssh-keygen -t ed25519 -N '' -f FILE), or remove it from a copy (ssh-keygen -p -N '' -f COPY)", ErrKey, name)
		case isPublicKey(data):
			return nil, fmt.Errorf("%w: %s holds a public key: give the private key (the file without .pub)", ErrKey, name)
		}
		return nil, fmt.Errorf("%w: %s is not an OpenSSH private key (make one with ssh-keygen -t ed25519): %w", ErrKey, name, err)
	}
	var priv ed25519.PrivateKey
	switch k := raw.(type) {
	case ed25519.PrivateKey:
		priv = k
	case *ed25519.PrivateKey:
		priv = *k
	default:
		return nil, fmt.Errorf("%w: %s is not an ed25519 key (%s): archives are signed with ed25519 keys; make one with ssh-keygen -t ed25519", ErrKey, name, keyKind(raw))
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKey, name, err)
	}
	return &Key{signer: signer}, nil
}

func isPublicKey(data []byte) bool {
	_, _, _, _, err := ssh.ParseAuthorizedKey(data)
	return err == nil
}

// keyKind names a private key's type for an error.
func keyKind(raw any) string {
	if s, err := ssh.NewSignerFromKey(raw); err == nil {
		return s.PublicKey().Type()
	}
	return fmt.Sprintf("%T", raw)
}

// Fingerprint is the key's, as ssh-keygen -l shows it (SHA256:...).
func (k *Key) Fingerprint() string { return ssh.FingerprintSHA256(k.signer.PublicKey()) }

// PublicKey is the key's public half in authorized_keys form, for a
// trust list.
func (k *Key) PublicKey() string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.signer.PublicKey())))
}

// Sign signs msg (an archive's manifest.json as stored) and returns the
// armored signature, as ssh-keygen -Y sign writes it.
func (k *Key) Sign(msg []byte) ([]byte, error) {
	sig, err := sshsig.Sign(bytes.NewReader(msg), k.signer, hash, Namespace)
	if err != nil {
		return nil, fmt.Errorf("signing the archive: %w", err)
	}
	return armor(sig.Marshal()), nil
}

const (
	armorBegin = "-----BEGIN SSH SIGNATURE-----"
	armorEnd   = "-----END SSH SIGNATURE-----"
	// armorWidth is ssh-keygen's line length, so that our .sig files
	// look like its own.
	armorWidth = 70
)

func armor(blob []byte) []byte {
	b64 := base64.StdEncoding.EncodeToString(blob)
	var b bytes.Buffer
	b.WriteString(armorBegin + "\n")
	for len(b64) > armorWidth {
		b.WriteString(b64[:armorWidth] + "\n")
		b64 = b64[armorWidth:]
	}
	b.WriteString(b64 + "\n" + armorEnd + "\n")
	return b.Bytes()
}

// Signature is an archive's signature, parsed but not yet checked
// against the archive.
type Signature struct {
	sig *sshsig.Signature
}

// ParseSignature reads an armored signature (a .sig file). One that is
// malformed, not of ed25519, or made for another namespace is refused
// with ErrBadSignature.
func ParseSignature(armored []byte) (*Signature, error) {
	if len(armored) > MaxSize {
		return nil, fmt.Errorf("%w: the signature is %d bytes, more than a signature can be", ErrBadSignature, len(armored))
	}
	s, err := sshsig.Unarmor(bytes.TrimSpace(armored))
	if err != nil {
		return nil, fmt.Errorf("%w: it is not an SSH signature (-----BEGIN SSH SIGNATURE-----): %w", ErrBadSignature, err)
	}
	if s.Namespace != Namespace {
		return nil, fmt.Errorf("%w: it was made for %q, not for archives (ssh-keygen -Y sign -n %s)", ErrBadSignature, s.Namespace, Namespace)
	}
	if s.PublicKey.Type() != ssh.KeyAlgoED25519 {
		return nil, fmt.Errorf("%w: it is made with a %s key; archives are signed with ed25519 keys", ErrBadSignature, s.PublicKey.Type())
	}
	return &Signature{sig: s}, nil
}

// Fingerprint is the signing key's (SHA256:...), read from the
// signature itself.
func (s *Signature) Fingerprint() string { return ssh.FingerprintSHA256(s.sig.PublicKey) }

// PublicKey is the signing key in authorized_keys form.
func (s *Signature) PublicKey() string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.sig.PublicKey)))
}

// Verify checks the signature over msg, the manifest's bytes.
func (s *Signature) Verify(msg []byte) error {
	if err := sshsig.Verify(bytes.NewReader(msg), s.sig, s.sig.PublicKey, s.sig.HashAlgorithm, Namespace); err != nil {
		return fmt.Errorf("%w: the signature by %s does not match the archive's manifest: the archive or its signature was changed after it was signed, or the signature is another archive's", ErrBadSignature, s.Fingerprint())
	}
	return nil
}

// ReadFile reads the signature beside a local archive, path.sig: nil
// when there is none.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path + Ext)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the archive's signature: %w", err)
	}
	defer f.Close()
	return Read(f, path+Ext)
}

// Read reads a signature of at most MaxSize bytes from r.
func Read(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the archive's signature %s: %w", name, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %s is larger than a signature can be", ErrBadSignature, name)
	}
	return data, nil
}
