package sign

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Trust is the list of keys an archive must be signed by: with one, an
// unsigned archive, or one signed by any other key, is refused before it
// is read. A nil *Trust is no list: any archive is read, and a signature
// that comes with it is still checked.
type Trust struct {
	keys  []trusted
	files []string
}

type trusted struct {
	key  ssh.PublicKey
	fp   string
	name string
}

// LoadTrust reads trust files (public keys, one per line, as in
// authorized_keys or ssh-keygen's allowed_signers); nil for no files.
// A file holding no key is an error: a trust list that trusts nothing
// would refuse every archive.
func LoadTrust(files []string) (*Trust, error) {
	if len(files) == 0 {
		return nil, nil
	}
	t := &Trust{files: files}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("the trust file: %w", err)
		}
		one, err := ParseTrust(data, f)
		if err != nil {
			return nil, err
		}
		t.keys = append(t.keys, one.keys...)
	}
	return t, nil
}

// ParseTrust reads one trust file's lines: `ssh-ed25519 AAAA... comment`
// (a .pub file, authorized_keys), or `PRINCIPALS [OPTIONS] ssh-ed25519
// AAAA...` (allowed_signers). Blank lines and # comments are skipped;
// anything else is an error naming the line. name is the file's, for
// errors.
func ParseTrust(data []byte, name string) (*Trust, error) {
	var out []trusted
	skipped := 0
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		t, ok, err := parseTrustLine(line)
		if err != nil {
			return nil, fmt.Errorf("trust file %s, line %d: %w", name, i+1, err)
		}
		if !ok {
			skipped++
			continue
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		why := "it holds no public key"
		if skipped > 0 {
			why = fmt.Sprintf("none of its keys may sign archives (their namespaces= leave out %s)", Namespace)
		}
		return nil, fmt.Errorf("trust file %s: %s: list the public keys that sign the archives, one per line (ssh-ed25519 AAAA..., as in the key's .pub file)", name, why)
	}
	return &Trust{keys: out, files: []string{name}}, nil
}

// parseTrustLine reads one key line; ok is false for a key whose
// namespaces= option leaves archives out (ssh-keygen -Y verify would not
// accept it for them either).
func parseTrustLine(line string) (trusted, bool, error) {
	fields := splitOutside(line, func(r rune) bool { return r == ' ' || r == '\t' })
	k := -1
	var key ssh.PublicKey
	var comment string
	// The key is at most after principals and options.
	for i := 0; i < len(fields)-1 && i <= 2; i++ {
		pk, c, _, _, err := ssh.ParseAuthorizedKey([]byte(strings.Join(fields[i:], " ")))
		if err == nil && fields[i] == pk.Type() {
			k, key, comment = i, pk, c
			break
		}
	}
	if k < 0 {
		return trusted{}, false, fmt.Errorf("not a public key: write ssh-ed25519 AAAA... (the key's .pub file) or PRINCIPAL ssh-ed25519 AAAA... (allowed_signers)")
	}
	if key.Type() != ssh.KeyAlgoED25519 {
		return trusted{}, false, fmt.Errorf("a %s key: archives are signed with ed25519 keys only", key.Type())
	}
	t := trusted{key: key, fp: ssh.FingerprintSHA256(key), name: comment}
	pre := fields[:k]
	var opts []string
	if len(pre) > 0 && !isOptions(pre[0]) {
		if t.name == "" {
			t.name = pre[0]
		}
		pre = pre[1:]
	}
	for _, p := range pre {
		opts = append(opts, splitOutside(p, func(r rune) bool { return r == ',' })...)
	}
	ok := true
	for _, o := range opts {
		name, value, _ := strings.Cut(o, "=")
		switch strings.ToLower(name) {
		case "cert-authority":
			return trusted{}, false, fmt.Errorf("cert-authority: certificates are not accepted; list the signing key itself")
		case "valid-after", "valid-before":
			return trusted{}, false, fmt.Errorf("%s: validity periods are not supported; remove the line of a key that is no longer trusted", name)
		case "namespaces":
			ok = matchesNamespace(strings.Trim(value, `"`))
		}
	}
	return t, ok, nil
}

// optionNames start the options of an authorized_keys or allowed_signers
// line, which are not principals.
var optionNames = []string{"cert-authority", "namespaces", "valid-after", "valid-before", "restrict", "command", "from",
	"environment", "no-", "permit", "principals", "tunnel", "expiry-time", "agent-forwarding", "port-forwarding", "pty", "user-rc", "x11-forwarding", "no-touch-required", "verify-required"}

func isOptions(field string) bool {
	for _, o := range splitOutside(field, func(r rune) bool { return r == ',' }) {
		name, _, _ := strings.Cut(o, "=")
		name = strings.ToLower(name)
		for _, known := range optionNames {
			if name == known || strings.HasSuffix(known, "-") && strings.HasPrefix(name, known) {
				return true
			}
		}
	}
	return false
}

// matchesNamespace tells whether a namespaces= pattern list, as
// ssh-keygen reads it (comma-separated, * and ? wildcards, ! negates),
// allows Namespace.
func matchesNamespace(list string) bool {
	match := false
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if ok, _ := path.Match(p, Namespace); ok {
			if neg {
				return false
			}
			match = true
		}
	}
	return match
}

// splitOutside splits s at the runes sep matches, except inside double
// quotes; empty pieces are dropped.
func splitOutside(s string, sep func(rune) bool) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			cur.WriteRune(r)
		case !quoted && sep(r):
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// Files are the trust files the list was read from, for messages.
func (t *Trust) Files() []string { return slices.Clone(t.files) }

func (t *Trust) find(key ssh.PublicKey) (trusted, bool) {
	want := key.Marshal()
	for _, k := range t.keys {
		if bytes.Equal(k.key.Marshal(), want) {
			return k, true
		}
	}
	return trusted{}, false
}

// Status is what an archive's verification found of its signature.
type Status struct {
	// Signed: the archive came with a signature, and it matched the
	// manifest.
	Signed bool `json:"signed"`
	// Key is the signing key's fingerprint (SHA256:...); Name its
	// principal or comment in the trust list.
	Key  string `json:"key,omitempty"`
	Name string `json:"name,omitempty"`
	// Trusted: signed by a key of the trust list. A signed archive that
	// is not Trusted was read without a trust list.
	Trusted bool `json:"trusted"`
}

func (s Status) String() string {
	switch {
	case !s.Signed:
		return "not signed"
	case s.Trusted && s.Name != "":
		return fmt.Sprintf("signed by %s (%s), a trusted key", s.Key, s.Name)
	case s.Trusted:
		return fmt.Sprintf("signed by %s, a trusted key", s.Key)
	}
	return fmt.Sprintf("signed by %s, not checked against a trust list (--trust)", s.Key)
}

// Check is an archive's signature as admitted before the archive is
// read: Manifest then checks it over manifest.json's bytes.
type Check struct {
	sig      *Signature
	status   Status
	verified bool
}

// Admit decides, from the signature alone (sig, the .sig's bytes; nil
// for none) and before a byte of the archive is read, whether the
// archive may be read: with a trust list, it must be signed
// (ErrUnsigned) by a key of the list (ErrUntrusted). Without one (t nil)
// any archive may; a signature that comes with it must still parse.
func (t *Trust) Admit(sig []byte) (*Check, error) {
	if sig == nil {
		if t != nil {
			return nil, fmt.Errorf("%w: it has no signature (ARCHIVE%s beside it, or in its index), and --trust (%s) asks for one: restore an archive made with create --sign, or, if you know where this one comes from, check it without --trust", ErrUnsigned, Ext, strings.Join(t.files, ", "))
		}
		return &Check{}, nil
	}
	s, err := ParseSignature(sig)
	if err != nil {
		return nil, err
	}
	c := &Check{sig: s, status: Status{Signed: true, Key: s.Fingerprint()}}
	if t == nil {
		return c, nil
	}
	k, ok := t.find(s.sig.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: it is signed by %s, which no --trust file lists (%s): if that key is yours, add its public key to one (%s)", ErrUntrusted, s.Fingerprint(), strings.Join(t.files, ", "), s.PublicKey())
	}
	c.status.Trusted, c.status.Name = true, k.name
	return c, nil
}

// Manifest checks the signature over manifest.json's bytes as the
// archive stores them (archive.VerifyOptions.Manifest).
func (c *Check) Manifest(raw []byte) error {
	if c.sig == nil {
		return nil
	}
	if err := c.sig.Verify(raw); err != nil {
		return err
	}
	c.verified = true
	return nil
}

// Status is the archive's signature as checked. A signature that
// Manifest never saw is an error: the archive was not verified.
func (c *Check) Status() (Status, error) {
	if c.sig != nil && !c.verified {
		return Status{}, errors.New("the signature was never checked against the manifest")
	}
	return c.status, nil
}
