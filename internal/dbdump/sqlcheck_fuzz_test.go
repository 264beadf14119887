package dbdump

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// chunkReader gives r's bytes in the sizes sizes says, round after round.
type chunkReader struct {
	r     []byte
	sizes []byte
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.r) == 0 {
		return 0, io.EOF
	}
	n := 1 + int(c.sizes[c.i%len(c.sizes)])
	c.i++
	n = min(n, len(p), len(c.r))
	copy(p, c.r[:n])
	c.r = c.r[n:]
	return n, nil
}

// verdict is what a Checker found: nil, or the entry, line and what.
func verdict(err error) string {
	var u *UnsafeDumpError
	if errors.As(err, &u) {
		return u.Error()
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

// FuzzChecker: any text is passed or refused, never a panic or a hang,
// and the same way whatever the sizes of the writes that bring it (the
// Checker watches a stream in whatever pieces the engine's exec gives),
// as a Checker and as a FilterReader.
func FuzzChecker(f *testing.F) {
	for _, s := range []string{pgGlobals, mysqlDump, "\\! id\n", "SELECT 1;\nsystem id\n", "DELIMITER //\nx//\n\\! id",
		"SELECT E'a''\\' \\! x';", "SELECT 'a'\n'\\' \\! x", "SELECT $q$ \\! $q$; $1E'\\'' \\! x", "/*!50003 \\! */", "-- \\!\n\\restrict abc\n"} {
		f.Add([]byte(s), []byte{0})
		f.Add([]byte(s), []byte{2, 0, 6, 1})
	}
	f.Fuzz(func(t *testing.T, text, sizes []byte) {
		if len(sizes) == 0 {
			sizes = []byte{0}
		}
		for _, d := range []Dialect{PSQL, MySQLClient} {
			whole := NewChecker(d, "e")
			whole.Write(text)
			want := verdict(whole.Close())
			pieces := NewChecker(d, "e")
			cr := &chunkReader{r: text, sizes: sizes}
			buf := make([]byte, 256)
			for {
				n, err := cr.Read(buf)
				pieces.Write(buf[:n])
				if err != nil {
					break
				}
			}
			if got := verdict(pieces.Close()); got != want {
				t.Fatalf("dialect %d: in one piece %q, in pieces %q", d, want, got)
			}
			oneOut, oneErr := io.ReadAll(FilterReader(d, "e", bytes.NewReader(text)))
			out, err := io.ReadAll(FilterReader(d, "e", &chunkReader{r: text, sizes: sizes}))
			if verdict(err) != verdict(oneErr) || !bytes.Equal(out, oneOut) {
				t.Fatalf("dialect %d: filtered in one piece %q, %q; in pieces %q, %q", d, oneOut, verdict(oneErr), out, verdict(err))
			}
			if verdict(oneErr) != want {
				t.Fatalf("dialect %d: the filter says %q, the checker %q", d, verdict(oneErr), want)
			}
			// What passes, passes whole (psql loses only the \restrict
			// lines, which the load writes itself).
			if want == "" && d == MySQLClient && !bytes.Equal(oneOut, text) {
				t.Fatalf("the filter changed what it passed: %q into %q", text, oneOut)
			}
		}
	})
}
