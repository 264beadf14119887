package storage

import (
	"strings"
	"testing"
)

// FuzzParseLocation: any -o/--to or ARCHIVE argument is read or refused,
// never a panic; what is accepted reads back the same from its String();
// and a password written into a URL's user part never appears in the
// error (nor in the location) whatever else is wrong with the URL.
func FuzzParseLocation(f *testing.F) {
	for _, seed := range [][4]string{
		{"s3", "", "", "bucket/site/"},
		{"s3", "", "", "bucket/site/shop-20261123T101010Z.tar.zst"},
		{"s3", "AKIAEXAMPLE", "wJalrXUtnFEMI/K7MDENG", "bucket/x/"},
		{"s3", "key", "se cret%zz", "bucket/x"},
		{"file", "", "", "/srv/backups/"},
		{"file", "", "", "host/srv/x.tar"},
		{"gs", "", "", "bucket/x"},
		{"", "", "", "./restic:"},
		{"", "", "", "backups/shop.tar.zst.age"},
		{"S3", "", "", "b/?x=1#f"},
		{"s3", "key", "123456/abcdef", "bucket/x/"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3], uint8(0))
	}
	f.Fuzz(func(t *testing.T, scheme, user, password, rest string, k uint8) {
		s := rest
		if scheme != "" {
			cred := ""
			if user != "" || password != "" {
				cred = user + ":" + password + "@"
			}
			s = scheme + "://" + cred + rest
		}
		kind := Kind(int(k) % 3)
		loc, err := Parse(s, "/work", kind)
		// Only a URL has a user part; anything else is a local path,
		// which names what the user wrote.
		// An access key ID never holds "/", "?", "#" or "@" (a secret
		// key may: AWS's hold "/").
		secret := IsURL(s) && !strings.ContainsAny(user, "/?#@") && len(password) >= 6 && !strings.Contains(scheme+user+rest, password) && !strings.Contains(strings.ToLower(scheme), password) && !strings.Contains("://@", password)
		if err != nil {
			if secret && strings.Contains(err.Error(), password) {
				t.Fatalf("Parse(%q): the error shows the password: %v", s, err)
			}
			return
		}
		if secret && strings.Contains(loc.String(), password) {
			t.Fatalf("Parse(%q) = %q: the location shows the password", s, loc.String())
		}
		switch loc.Scheme {
		case "s3":
			if loc.Bucket == "" {
				t.Fatalf("Parse(%q): an s3 location without a bucket", s)
			}
		case "file":
		default:
			t.Fatalf("Parse(%q): scheme %q", s, loc.Scheme)
		}
		if kind == Object && loc.Name == "" {
			t.Fatalf("Parse(%q) as an object names none", s)
		}
		if strings.ContainsRune(loc.String(), 0) {
			t.Fatalf("Parse(%q): a location holding a NUL byte", s)
		}
		if loc.Scheme == "s3" && loc.Name != "" {
			if err := ValidName(loc.Name); err != nil {
				t.Fatalf("Parse(%q): name %q: %v", s, loc.Name, err)
			}
		}
		if loc.Scheme != "s3" || kind != Object {
			return
		}
		again, err := Parse(loc.String(), "/work", kind)
		if err != nil {
			t.Fatalf("Parse(%q) = %q, which does not parse again: %v", s, loc.String(), err)
		}
		if again.Bucket != loc.Bucket || again.Dir != loc.Dir || again.Name != loc.Name {
			t.Fatalf("Parse(%q) = %+v, and its String %q parses to %+v", s, loc, loc.String(), again)
		}
	})
}
