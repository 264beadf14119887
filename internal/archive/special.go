package archive

import (
	"archive/tar"
	"fmt"
	"slices"
)

// Special counts what a volume tree holds that gives whoever runs or opens
// it more than its permissions say: regular files with the setuid or
// setgid bit, device nodes and fifos, and files with capabilities (the
// security.capability extended attribute). The Writer records it in the
// manifest; Verify counts it again and hands back what it counted, so
// that a restore can name it in its plan whatever the manifest claimed.
type Special struct {
	// Setuid counts regular files with the setuid or setgid bit.
	Setuid int64 `json:"setuid,omitempty"`
	// Devices counts character and block devices and fifos.
	Devices int64 `json:"devices,omitempty"`
	// Capabilities counts entries with a security.capability attribute.
	Capabilities int64 `json:"capabilities,omitempty"`
	// Examples are the first of them, by name relative to the volume's
	// root, in archive order; at most MaxSpecialExamples.
	Examples []string `json:"examples,omitempty"`
}

// MaxSpecialExamples bounds Special.Examples.
const MaxSpecialExamples = 5

// CapabilityRecord is the PAX record of a file's capabilities, as GNU tar
// and Docker's archives write extended attributes.
const CapabilityRecord = "SCHILY.xattr.security.capability"

// observe counts hdr, of name rel (relative to the tree's root) in s.
func (s *Special) observe(rel string, hdr *tar.Header) {
	hit := false
	if hdr.Typeflag == tar.TypeReg && hdr.Mode&0o6000 != 0 {
		s.Setuid++
		hit = true
	}
	switch hdr.Typeflag {
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		s.Devices++
		hit = true
	}
	if _, ok := hdr.PAXRecords[CapabilityRecord]; ok {
		s.Capabilities++
		hit = true
	}
	if hit && len(s.Examples) < MaxSpecialExamples {
		s.Examples = append(s.Examples, rel)
	}
}

// orNil is s, or nil when it counted nothing: what the manifest records.
func (s *Special) orNil() *Special {
	if s == nil || (s.Setuid == 0 && s.Devices == 0 && s.Capabilities == 0 && len(s.Examples) == 0) {
		return nil
	}
	c := *s
	c.Examples = slices.Clone(s.Examples)
	return &c
}

// sameSpecial tells whether a manifest's record matches what was
// counted; nil is nothing.
func sameSpecial(a, b *Special) bool {
	a, b = a.orNil(), b.orNil()
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Setuid == b.Setuid && a.Devices == b.Devices && a.Capabilities == b.Capabilities && slices.Equal(a.Examples, b.Examples)
}

// String sums it up for people: "2 setuid/setgid files, 1 device or
// fifo (usr/bin/su, ...)".
func (s *Special) String() string {
	if s.orNil() == nil {
		return "none"
	}
	out := ""
	add := func(n int64, one, many string) {
		if n == 0 {
			return
		}
		if out != "" {
			out += ", "
		}
		if n == 1 {
			out += "1 " + one
		} else {
			out += fmt.Sprintf("%d %s", n, many)
		}
	}
	add(s.Setuid, "setuid/setgid file", "setuid/setgid files")
	add(s.Devices, "device or fifo", "devices or fifos")
	add(s.Capabilities, "file with capabilities", "files with capabilities")
	names := ""
	for i, e := range s.Examples[:min(len(s.Examples), MaxSpecialExamples)] {
		if i > 0 {
			names += ", "
		}
		names += Short(e)
	}
	if len(s.Examples) >= MaxSpecialExamples {
		names += ", ..."
	}
	if names == "" {
		return out
	}
	return out + " (" + names + ")"
}
