// Package signtest makes signing keys and trust lists for tests, without
// ssh-keygen.
package signtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/docker-backup/docker-backup/internal/sign"
)

// Key is a new ed25519 signing key and the trust list that holds it
// alone.
func Key(t testing.TB) (*sign.Key, *sign.Trust) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	k, err := sign.ParseKey(pem.EncodeToMemory(block), "test key")
	if err != nil {
		t.Fatal(err)
	}
	trust, err := sign.ParseTrust([]byte(k.PublicKey()+" test\n"), "trust")
	if err != nil {
		t.Fatal(err)
	}
	return k, trust
}
