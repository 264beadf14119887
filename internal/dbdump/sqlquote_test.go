package dbdump

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// The literal writers are checked against the lexers of sqlcheck.go, the
// way psql and the mysql client read text: a literal is one string token,
// nothing of it is SQL or a client command, and its value read back is
// the input, whatever the server's settings.

// pgReadings are the Checker's readings of psql input: standard_conforming_
// strings on, off, and on with psql 14's 1E'...'.
var pgReadings = []string{"standard_conforming_strings on", "standard_conforming_strings off", "psql 14's 1E'...'"}

// pgReadToken feeds prefix, then tok, then " ;" to reading i of a psql
// Checker, and returns the raw text of the one quoted token tok must be
// (a string or a quoted identifier), with the state it was read in.
func pgReadToken(i int, prefix, tok string, want ...pgState) (body string, kind pgState, err error) {
	c := NewChecker(PSQL, "literal")
	l := &c.pg[i]
	c.scan([]byte(prefix), nil)
	if l.state != pgNormal || c.err != nil {
		return "", 0, fmt.Errorf("the prefix %q leaves state %d, %v", prefix, l.state, c.err)
	}
	in := func(s pgState) bool {
		for _, w := range want {
			if s == w {
				return true
			}
		}
		return false
	}
	start := -1
	for j := 0; j < len(tok); j++ {
		c.scan([]byte{tok[j]}, nil)
		if c.err != nil {
			return "", 0, fmt.Errorf("byte %d: %v", j, c.err)
		}
		switch st := l.state; {
		case in(st):
			if start < 0 {
				start, kind = j+1, st
			} else if st != kind {
				return "", 0, fmt.Errorf("byte %d: the token changes from state %d to %d", j, kind, st)
			}
		case start < 0 && st == pgNormal && j == 0 && (tok[0] == 'E' || tok[0] == 'e'):
			// The E of E'...'.
		case st == pgQuoteStop && j == len(tok)-1:
		case st == pgQuoteStop && tok[j+1] == tok[j]:
			// A doubled quote: the next byte reopens the token.
		case st == pgNormal && j == len(tok)-1 && kind == pgQuotedIdent:
		case st == pgNormal && j+1 < len(tok) && tok[j+1] == tok[j] && kind == pgQuotedIdent:
		default:
			return "", 0, fmt.Errorf("byte %d (%q): the token ends early (state %d)", j, tok[j], st)
		}
	}
	if start < 0 {
		return "", 0, errors.New("no quoted token")
	}
	c.scan([]byte(" ;"), nil)
	if l.state != pgNormal || c.err != nil {
		return "", 0, fmt.Errorf("after the token: state %d, %v", l.state, c.err)
	}
	return tok[start : len(tok)-1], kind, nil
}

// pgDecode reads the text of a string of kind as PostgreSQL does.
func pgDecode(kind pgState, s string) (string, error) {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			i++ // '' is one quote
			b = append(b, '\'')
		case c == '\\' && kind == pgEString:
			i++
			if i == len(s) {
				return "", errors.New("a lone backslash")
			}
			switch e := s[i]; {
			case e == 'b':
				b = append(b, '\b')
			case e == 'f':
				b = append(b, '\f')
			case e == 'n':
				b = append(b, '\n')
			case e == 'r':
				b = append(b, '\r')
			case e == 't':
				b = append(b, '\t')
			case e == 'x' && i+1 < len(s) && isHex(s[i+1]):
				n, j := 0, i+1
				for ; j < len(s) && j < i+3 && isHex(s[j]); j++ {
					n = n*16 + unhex(s[j])
				}
				b, i = append(b, byte(n)), j-1
			case e >= '0' && e <= '7':
				n, j := 0, i
				for ; j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7'; j++ {
					n = n*8 + int(s[j]-'0')
				}
				b, i = append(b, byte(n)), j-1
			case e == 'u' || e == 'U':
				return "", errors.New("a unicode escape")
			default:
				b = append(b, e)
			}
		default:
			b = append(b, c)
		}
	}
	return string(b), nil
}

// pgReadLiteral reads lit, after SELECT, as reading i does.
func pgReadLiteral(i int, lit string) (string, error) {
	body, kind, err := pgReadToken(i, "SELECT ", lit, pgString, pgEString)
	if err != nil {
		return "", err
	}
	return pgDecode(kind, body)
}

// myReadToken is pgReadToken for the mysql client's lexer, with or without
// NO_BACKSLASH_ESCAPES: the token must be one string in quote q.
func myReadToken(nbe bool, prefix, tok string, q byte) (string, error) {
	c := NewChecker(MySQLClient, "literal")
	c.my.noBackslashEscapes = nbe
	l := &c.my
	c.scan([]byte(prefix), nil)
	if l.state != myNormal || c.err != nil || l.empty {
		return "", fmt.Errorf("the prefix %q leaves state %d, %v", prefix, l.state, c.err)
	}
	for j := 0; j < len(tok); j++ {
		c.scan([]byte{tok[j]}, nil)
		switch {
		case c.err != nil:
			return "", fmt.Errorf("byte %d: %v", j, c.err)
		case l.empty:
			return "", fmt.Errorf("byte %d: the statement ends", j)
		case l.state == myString && l.quote == q:
		case l.state == myNormal && j == len(tok)-1:
		case l.state == myNormal && j > 0 && tok[j+1] == q:
			// A doubled quote.
		default:
			return "", fmt.Errorf("byte %d (%q): the token ends early (state %d)", j, tok[j], l.state)
		}
	}
	c.scan([]byte(" x"), nil)
	if l.state != myNormal || l.empty || c.err != nil {
		return "", fmt.Errorf("after the token: state %d, %v", l.state, c.err)
	}
	if len(tok) < 2 || tok[0] != q {
		return "", errors.New("not quoted")
	}
	return tok[1 : len(tok)-1], nil
}

// myDecode reads the text of a '...' string as MySQL does without
// NO_BACKSLASH_ESCAPES.
func myDecode(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			i++
			b = append(b, '\'')
		case c == '\\' && i+1 < len(s):
			i++
			switch e := s[i]; e {
			case '0':
				b = append(b, 0)
			case 'b':
				b = append(b, '\b')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'Z':
				b = append(b, 0x1a)
			case '%', '_':
				b = append(b, '\\', e)
			default:
				b = append(b, e)
			}
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// checkLiterals checks every quoting function on v; it reports what is
// wrong, "" when nothing is.
func checkLiterals(v string) []string {
	var bad []string
	lit := pgLiteral(v)
	if strings.ContainsAny(lit, "\x00\n\r") {
		bad = append(bad, fmt.Sprintf("pgLiteral(%q) = %q breaks a line", v, lit))
	}
	for i, name := range pgReadings {
		got, err := pgReadLiteral(i, lit)
		if err != nil || got != v {
			bad = append(bad, fmt.Sprintf("pgLiteral(%q) = %q, read with %s: %q, %v", v, lit, name, got, err))
		}
	}
	if !strings.Contains(v, "\x00") {
		id := pgIdent(v)
		for i, name := range pgReadings {
			body, _, err := pgReadToken(i, "SELECT 1 AS ", id, pgQuotedIdent)
			if err != nil || strings.ReplaceAll(body, `""`, `"`) != v {
				bad = append(bad, fmt.Sprintf("pgIdent(%q) = %q, read with %s: %q, %v", v, id, name, body, err))
			}
		}
	}
	lit = myLiteral(v)
	if strings.ContainsAny(lit, "\x00\n\r\x1a") {
		bad = append(bad, fmt.Sprintf("myLiteral(%q) = %q breaks a line", v, lit))
	}
	body, err := myReadToken(false, "SELECT ", lit, '\'')
	if got := myDecode(body); err != nil || got != v {
		bad = append(bad, fmt.Sprintf("myLiteral(%q) = %q: %q, %v", v, lit, got, err))
	}
	if _, err := myReadToken(true, "SELECT ", lit, '\''); err != nil {
		bad = append(bad, fmt.Sprintf("myLiteral(%q) = %q with NO_BACKSLASH_ESCAPES: %v", v, lit, err))
	}
	id := myIdent(v)
	for _, nbe := range []bool{false, true} {
		body, err := myReadToken(nbe, "SELECT 1 AS ", id, '`')
		if err != nil || strings.ReplaceAll(body, "``", "`") != v {
			bad = append(bad, fmt.Sprintf("myIdent(%q) = %q (NO_BACKSLASH_ESCAPES %v): %q, %v", v, id, nbe, body, err))
		}
	}
	return bad
}

// hostileValues break literals written for one reading only.
var hostileValues = []string{
	"", "plain", "it's", `a\b`, `\`, `\\`, `'`, `''`, `\'`, `'\`,
	`\');COPY(SELECT 1)TO PROGRAM $x$touch /tmp/pwned$x$;--`,
	`\'); SELECT 1; --`, "a\x00b", "\x00", "line\nbreak", "cr\rlf\n", "\x1a", "tab\there",
	"$x$", "$$", "$x$ $y$ $x$", "E'x'", `E'\''`, `"`, `""`, "`", "``", "a`b", `a"b`,
	"\\x41", "\\101", "\\u0041", "; \\! id", "\\! id", "\n\\! id\n", "\nsystem id\n", "\\g", "-- x", "/* x", "*/",
	"ü", "日本語", "\xbf\\", "\xbf'", "\x81\\'", "\x81'", "\xff\xfe", "\xe3\x81", "é\\'",
	"%_\\%\\_", "\x7f", "\x01\x02\x1f",
}

func TestLiteralsReadBackExactly(t *testing.T) {
	for _, v := range hostileValues {
		for _, b := range checkLiterals(v) {
			t.Error(b)
		}
	}
}

// Each writer's output, under the setting that broke the old ones: the
// attack round's value with standard_conforming_strings off is one string.
func TestPgLiteralUnderStandardConformingStringsOff(t *testing.T) {
	v := `\');COPY(SELECT 1)TO PROGRAM $x$touch /tmp/pwned$x$;--`
	got, err := pgReadLiteral(1, pgLiteral(v))
	if err != nil || got != v {
		t.Fatalf("%s: %q, %v", pgLiteral(v), got, err)
	}
	if !strings.HasPrefix(pgLiteral(v), "E'") {
		t.Errorf("not an escape string: %s", pgLiteral(v))
	}
}

func TestMyLiteralUnderNoBackslashEscapes(t *testing.T) {
	v := `\'), ('x'); SELECT 1; -- `
	if _, err := myReadToken(true, "SELECT ", myLiteral(v), '\''); err != nil {
		t.Fatalf("%s: %v", myLiteral(v), err)
	}
}

// FuzzLiteral feeds the quoting functions hostile strings and reads their
// output back with the clients' lexers, in every reading.
func FuzzLiteral(f *testing.F) {
	for _, v := range hostileValues {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, b := range checkLiterals(v) {
			t.Error(b)
		}
	})
}
