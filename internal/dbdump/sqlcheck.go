package dbdump

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// A plain-SQL dump goes to the server's own client (psql, mysql), and both
// clients run commands of their own besides SQL: psql's \! and mysql's
// system run a shell. An archive is data, never code, so before a dump
// reaches a client its text is checked the way that client reads it, and
// anything the client would take for one of its own commands is refused,
// naming the entry and the line. The clients' own safe modes come on top
// where they have them (psql's \restrict, mysql's --binary-mode and
// --sandbox): see postgres_load.go and mysql_load.go.

// Dialect is the client whose reading a check follows.
type Dialect int

const (
	// PSQL reads PostgreSQL plain SQL (pg_dumpall's globals).
	PSQL Dialect = iota
	// MySQLClient reads mysqldump and mariadb-dump output.
	MySQLClient
)

// ErrClientCommand: a dump holds something its client would run as one
// of its own commands.
var ErrClientCommand = errors.New("a dump may hold only SQL")

// UnsafeDumpError names the entry and line of a client command in a dump.
type UnsafeDumpError struct {
	Entry string
	Line  int64
	What  string
}

func (e *UnsafeDumpError) Error() string {
	return fmt.Sprintf("%s, line %d: %s: %v, not commands for the database client; this archive was not written by docker-backup's create", e.Entry, e.Line, e.What, ErrClientCommand)
}

func (e *UnsafeDumpError) Unwrap() error { return ErrClientCommand }

// maxMetaLine bounds the part of a psql meta-command line kept to tell an
// allowed \restrict or \unrestrict from anything else.
const maxMetaLine = 256

// Checker follows a dump's text as its client reads it, byte by byte, and
// stops at the first client command. It is an io.Writer, so that it can
// look at a stream on its way elsewhere; Err says what it found.
type Checker struct {
	entry string
	line  int64
	err   *UnsafeDumpError
	// pg reads the text with standard_conforming_strings on, off, and
	// on with 1E'...' an escape string (psql 14 and older lex it as
	// 1 E'...', 15 and later as 1E then '...').
	pg [3]pgLexer
	my myLexer
	d  Dialect
	// drop, in a filter, leaves out the current byte (a \restrict line);
	// hold keeps it back until what it belongs to is known (the first
	// word of a line, which may name a mysql command).
	drop, hold bool
	held       []byte
}

// NewChecker checks the dump stored as entry (named in errors) for
// dialect.
func NewChecker(d Dialect, entry string) *Checker {
	c := &Checker{entry: entry, line: 1, d: d}
	c.pg[1].backslashStrings = true
	c.pg[2].digitE = true
	c.my.delim = ";"
	c.my.lineStart = true
	c.my.empty = true
	return c
}

// Err is the first client command found, or nil.
func (c *Checker) Err() error {
	if c.err == nil {
		return nil
	}
	return c.err
}

// Write checks p; it never fails, so that the stream it watches goes on:
// Err tells the outcome.
func (c *Checker) Write(p []byte) (int, error) {
	c.scan(p, nil)
	return len(p), nil
}

// Close ends the text: a meta-command line still open is judged.
func (c *Checker) Close() error {
	switch {
	case c.err != nil:
	case c.d == PSQL:
		for i := range c.pg {
			c.pgEnd(i)
		}
	case c.my.state == myFirstWord:
		// The text ends with a line's first word: a command if it names
		// one.
		if w := lowerWord(c.my.word); mysqlCommands[w] && w != "use" {
			c.found("mysql client command " + w)
		}
	}
	return c.Err()
}

// scan checks p; with out, the bytes that pass are appended to it, and
// nothing from the first client command on.
func (c *Checker) scan(p []byte, out *[]byte) {
	for i := 0; i < len(p); {
		if c.err != nil {
			return
		}
		// Most of a MySQL dump is rows: runs of bytes that change
		// nothing but the line count go in one step.
		if c.d == MySQLClient && !c.hold {
			if n := c.my.skip(p[i:]); n > 0 {
				if out != nil {
					*out = append(*out, c.held...)
					c.held = c.held[:0]
					*out = append(*out, p[i:i+n]...)
				}
				i += n
				continue
			}
		}
		b := p[i]
		i++
		c.drop = false
		switch c.d {
		case PSQL:
			for i := range c.pg {
				c.pgByte(i, b)
			}
		case MySQLClient:
			c.myByte(b)
		}
		if c.err != nil {
			return
		}
		switch {
		case out == nil:
		case c.hold:
			c.held = append(c.held, b)
		default:
			*out = append(*out, c.held...)
			c.held = c.held[:0]
			if !c.drop {
				*out = append(*out, b)
			}
		}
		if b == '\n' {
			c.line++
		}
	}
}

func (c *Checker) found(what string) {
	if c.err == nil {
		c.err = &UnsafeDumpError{Entry: c.entry, Line: c.line, What: what}
	}
}

// FilterReader passes r on as long as it holds only what the dialect's
// client reads as SQL, and fails at the first client command, before
// handing it over: what a load reads never makes the client run
// anything, whatever changed since the archive was verified. For psql
// it leaves out the \restrict and \unrestrict lines of recent
// pg_dumpall, since the load puts the client in restricted mode itself.
func FilterReader(d Dialect, entry string, r io.Reader) io.Reader {
	return &filterReader{c: NewChecker(d, entry), r: r}
}

type filterReader struct {
	c       *Checker
	r       io.Reader
	buf     []byte
	pending []byte
	err     error
}

func (f *filterReader) Read(p []byte) (int, error) {
	for len(f.pending) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		if f.buf == nil {
			f.buf = make([]byte, 64<<10)
		}
		n, err := f.r.Read(f.buf)
		out := f.pending[:0]
		f.c.scan(f.buf[:n], &out)
		f.pending = out
		switch {
		case f.c.err != nil:
			f.err = f.c.err
		case err == io.EOF:
			if cerr := f.c.Close(); cerr != nil {
				f.err = cerr
			} else {
				f.pending = append(f.pending, f.c.held...)
				f.c.held = nil
				f.err = io.EOF
			}
		case err != nil:
			f.err = err
		}
	}
	n := copy(p, f.pending)
	f.pending = f.pending[n:]
	return n, nil
}

// psql's lexer, as far as it tells SQL from meta-commands (psqlscan.l).
// A backslash outside a string, quoted identifier, dollar quote or
// comment starts a meta-command. Whether a backslash escapes the next
// character of a '...' string depends on standard_conforming_strings,
// which a script can change in ways no check can follow, and whether
// 1E'...' holds an escape string on psql's version; so the text is read
// in each of these ways at once, and a meta-command in any reading is
// refused.
type pgLexer struct {
	backslashStrings bool // standard_conforming_strings off
	digitE           bool // 1E'...' is 1 and an escape string
	state            pgState
	prev             byte // the last byte read in pgNormal
	// The word prev is part of, as psql tells E'...' from name'...':
	// an E that starts a name starts an escape string; one right
	// after a number does on psql 14 and older.
	word              pgWord
	sawDot            bool // the number has its decimal point
	eFresh, eAfterNum bool // of the E in prev
	depth             int  // nesting of /* */
	escaped           bool // the previous byte was an escaping backslash
	// After a string's closing quote (psql's xqs state): the kind of
	// string it was.
	strKind       pgState
	tag           []byte
	match         int // bytes of "$tag$" matched so far in a dollar quote
	meta          []byte
	metaLineStart bool
	midLine       bool // something but blanks on this line already
}

type pgState int

const (
	pgNormal pgState = iota
	pgString
	pgEString
	pgQuotedIdent
	pgDollarTag // reading the tag of a $tag$ opening
	pgDollar    // inside a dollar quote
	pgLineComment
	pgBlockComment
	pgMeta      // a meta-command, up to its line's end
	pgQuoteStop // after a string's quote, which a second one makes a quote inside
)

func isIdentByte(b byte) bool {
	return b == '_' || b >= 0x80 || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9')
}

func isBlank(b byte) bool { return b == ' ' || b == '\t' || b == '\r' }

func (c *Checker) pgByte(i int, b byte) {
	l := &c.pg[i]
	for c.pgStep(i, l, b) {
	}
	switch {
	case b == '\n':
		l.midLine = false
	case !isBlank(b):
		l.midLine = true
	}
}

// toNormal leaves a quote or comment: what follows starts afresh.
func (l *pgLexer) toNormal() {
	l.state = pgNormal
	l.prev, l.word = 0, pgNoWord
}

// stop is a string's closing quote, which the next bytes may yet undo.
func (l *pgLexer) stop() {
	l.strKind = l.state
	l.state = pgQuoteStop
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// pgWord is the kind of word a byte is part of.
type pgWord int

const (
	pgNoWord pgWord = iota
	pgName          // a name: a letter, _ or non-ASCII byte, then those, digits and $
	pgNumber        // digits, with one decimal point
	pgDot           // a point, which digits make a number
)

// track follows the words of SQL outside quotes, byte by byte.
func (l *pgLexer) track(b byte) {
	l.prev = b
	before := l.word
	isLetter := isIdentByte(b) && !isDigit(b)
	switch {
	case before == pgName && (isIdentByte(b) || b == '$'):
	case before == pgNumber && isDigit(b):
	case before == pgNumber && b == '.' && !l.sawDot:
		l.sawDot = true
	case before == pgDot && isDigit(b):
		l.word, l.sawDot = pgNumber, true
	case isLetter:
		l.word = pgName
	case isDigit(b):
		l.word, l.sawDot = pgNumber, false
	case b == '.':
		l.word = pgDot
	default:
		l.word = pgNoWord
	}
	if b == 'E' || b == 'e' {
		l.eFresh = before != pgName && before != pgNumber
		l.eAfterNum = before == pgNumber
	}
}

// pgStep handles one byte; true means handle it again in the new state.
func (c *Checker) pgStep(i int, l *pgLexer, b byte) bool {
	switch l.state {
	case pgNormal:
		prev := l.prev
		l.track(b)
		switch {
		case b == '\\':
			l.state = pgMeta
			l.meta = append(l.meta[:0], b)
			l.metaLineStart = !l.midLine
			// A meta-command line is never handed on: the \restrict
			// lines allowed are left out, anything else is refused.
			c.drop = true
		case b == '\'':
			switch {
			case (prev == 'E' || prev == 'e') && (l.eFresh || l.digitE && l.eAfterNum), l.backslashStrings:
				l.state = pgEString
			default:
				l.state = pgString
			}
		case b == '"':
			l.state = pgQuotedIdent
		case b == '$' && !isIdentByte(prev):
			l.state = pgDollarTag
			l.tag = l.tag[:0]
		case b == '-' && prev == '-':
			l.state = pgLineComment
		case b == '*' && prev == '/':
			l.state = pgBlockComment
			l.depth = 1
			l.prev = 0
		}
	case pgString:
		if b == '\'' {
			l.stop()
		}
	case pgEString:
		switch {
		case l.escaped:
			l.escaped = false
		case b == '\\':
			l.escaped = true
		case b == '\'':
			l.stop()
		}
	case pgQuoteStop:
		// '' is a quote inside the string, which goes on as the kind
		// it was. (The server also joins two strings that only blanks
		// holding a newline part; psql, which reads a line at a time,
		// does not: the second is a string of its own.)
		if b == '\'' {
			l.state = l.strKind
			return false
		}
		l.toNormal()
		return true
	case pgQuotedIdent:
		if b == '"' {
			l.toNormal()
		}
	case pgDollarTag:
		switch {
		case b == '$':
			l.state = pgDollar
			l.match = 0
		case isIdentByte(b) && !(len(l.tag) == 0 && b >= '0' && b <= '9'):
			l.tag = append(l.tag, b)
		default:
			// Not a dollar quote ($1, a lone $, $E'...'): the $ is
			// alone, the tag's bytes and this one are SQL.
			l.state = pgNormal
			l.prev, l.word = '$', pgNoWord
			for _, t := range l.tag {
				l.track(t)
			}
			return true
		}
	case pgDollar:
		// Matching the closing "$tag$": match counts the bytes matched.
		want := byte('$')
		if l.match >= 1 && l.match <= len(l.tag) {
			want = l.tag[l.match-1]
		}
		switch {
		case b == want && l.match == len(l.tag)+1:
			l.toNormal()
		case b == want:
			l.match++
		case l.match > 0:
			l.match = 0
			return true
		}
	case pgLineComment:
		if b == '\n' {
			l.toNormal()
		}
	case pgBlockComment:
		switch {
		case b == '*' && l.prev == '/':
			l.depth++
			l.prev = 0
		case b == '/' && l.prev == '*':
			l.depth--
			l.prev = 0
			if l.depth == 0 {
				l.toNormal()
			}
		default:
			l.prev = b
		}
	case pgMeta:
		c.drop = true
		if b == '\n' {
			c.pgEnd(i)
			l.toNormal()
			return false
		}
		if len(l.meta) < maxMetaLine {
			l.meta = append(l.meta, b)
		} else {
			c.pgEnd(i)
		}
	}
	return false
}

// pgEnd judges a meta-command line: recent pg_dumpall writes
// "\restrict KEY" at its start and "\unrestrict KEY" at its end, which
// only make psql stricter; anything else is refused.
func (c *Checker) pgEnd(i int) {
	l := &c.pg[i]
	if l.state != pgMeta {
		return
	}
	line := strings.TrimRight(string(l.meta), "\r \t")
	l.meta = l.meta[:0]
	if l.metaLineStart && allowedPsqlMeta(line) {
		return
	}
	cmd := line
	if j := strings.IndexAny(cmd[1:], " \t"); j >= 0 {
		cmd = cmd[:j+1]
	}
	c.found("psql meta-command " + printable(cmd))
}

// printable is a command's name for a message: printable ASCII, short.
func printable(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 20 {
			b.WriteString("…")
			break
		}
		if r < 0x21 || r > 0x7e {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func allowedPsqlMeta(line string) bool {
	for _, cmd := range []string{`\restrict `, `\unrestrict `} {
		key, ok := strings.CutPrefix(line, cmd)
		if !ok || key == "" {
			continue
		}
		for _, r := range key {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
		return true
	}
	return false
}

// The mysql client's reading (client/mysql.cc, add_line and
// read_and_execute), as far as it tells SQL from its own commands: a
// backslash outside a string or comment starts a one-letter command
// anywhere (\N, which is NULL, and MariaDB's \- sandbox switch aside), and
// a line that starts a statement is a command when its first word names
// one (system, source, ...). Only delimiter and use are allowed: dumps
// write both. Strings take backslash escapes, as mysqldump writes them;
// a dump that turns them off (NO_BACKSLASH_ESCAPES) could read
// differently here, which is why loads also run the client in
// --binary-mode, where it runs no command but delimiter and \C.
type myLexer struct {
	// noBackslashEscapes reads strings as the server does with
	// NO_BACKSLASH_ESCAPES, and the client when the server says so.
	noBackslashEscapes bool
	state              myState
	quote              byte
	escaped            bool
	prev               byte
	delim              string
	dmatch             int  // bytes of delim matched
	empty              bool // no SQL since the last delimiter: a line may be a command
	// lineStart: nothing but blanks so far on this line.
	lineStart bool
	word      []byte // the first word of a line that starts a statement
	arg       []byte // the argument of a delimiter command
}

type myState int

const (
	myNormal myState = iota
	myBackslash
	myString
	myDashes // after "--": a comment if a blank or control follows
	myLineComment
	myBlockComment
	myBlockStart // after "/*": a comment unless ! or M! follows
	myFirstWord  // the first word of a line at a statement's start
	myDelimiter  // the argument of a delimiter command
	myRestOfLine // the rest of a delimiter or use line
)

// lowerWord lowers an ASCII word, and gives "" for one longer than any
// command (rows of a dump start lines by the million).
func lowerWord(w []byte) string {
	if len(w) > len("ssl_session_data_print") {
		return ""
	}
	var buf [32]byte
	for i, b := range w {
		if b >= 'A' && b <= 'Z' {
			b += 'a' - 'A'
		}
		buf[i] = b
	}
	return string(buf[:len(w)])
}

// mysqlCommands are the client's named commands (mysql 8 and MariaDB).
var mysqlCommands = map[string]bool{
	"?": true, "clear": true, "connect": true, "delimiter": true, "edit": true, "ego": true, "exit": true,
	"go": true, "help": true, "nopager": true, "notee": true, "pager": true, "print": true, "prompt": true,
	"quit": true, "rehash": true, "source": true, "status": true, "system": true, "tee": true, "use": true,
	"charset": true, "warnings": true, "nowarning": true, "resetconnection": true, "query_attributes": true,
	"ssl_session_data_print": true, "sandbox": true,
}

// stringStop and sqlStop are the bytes that end a fast run inside a
// string, and inside a statement (plus the delimiter's first byte).
var stringStop, sqlStop [256]bool

func init() {
	for _, b := range []byte("\\'\"`\n") {
		stringStop[b] = true
	}
	for _, b := range []byte("\\'\"`\n#-/ \t\r") {
		sqlStop[b] = true
	}
}

// skip returns how many bytes at the start of p it can pass over
// without a change of state: inside a string, up to a quote, backslash
// or newline; inside a statement, up to anything that may start a
// string, comment, command or delimiter, or a blank (which
// lineStart watches).
func (l *myLexer) skip(p []byte) int {
	switch {
	case l.state == myString && !l.escaped:
		n := 0
		for n < len(p) && !stringStop[p[n]] {
			n++
		}
		return n
	case l.state == myNormal && !l.empty && l.dmatch == 0:
		d := l.delim[0]
		n := 0
		for n < len(p) && !sqlStop[p[n]] && p[n] != d {
			n++
		}
		if n > 0 {
			l.lineStart = false
		}
		return n
	}
	return 0
}

func (c *Checker) myByte(b byte) {
	l := &c.my
	for c.myStep(l, b) {
	}
	c.hold = l.state == myFirstWord
	switch {
	case b == '\n':
		l.lineStart = true
	case !isBlank(b):
		l.lineStart = false
	}
}

// sql marks the statement as begun.
func (l *myLexer) sql() {
	l.empty = false
	l.dmatch = 0
}

func (c *Checker) myStep(l *myLexer, b byte) bool {
	switch l.state {
	case myNormal:
		if l.empty && l.lineStart && !isBlank(b) && b != '\n' && (isIdentByte(b) || b == '?') {
			l.state = myFirstWord
			l.word = append(l.word[:0], b)
			return false
		}
		// The delimiter ends a statement.
		if b == l.delim[l.dmatch] {
			l.dmatch++
			if l.dmatch == len(l.delim) {
				l.dmatch = 0
				l.empty = true
			}
			return false
		}
		if l.dmatch > 0 {
			l.sql()
		}
		switch {
		case b == '\\':
			l.state = myBackslash
		case b == '\'' || b == '"' || b == '`':
			l.state = myString
			l.quote = b
			l.sql()
		case b == '#':
			l.state = myLineComment
		case b == '-':
			l.state = myDashes
		case b == '/':
			l.state = myBlockStart
		case isBlank(b) || b == '\n':
		default:
			l.sql()
		}
	case myBackslash:
		l.state = myNormal
		if b != 'N' && b != '-' {
			c.found("mysql client command " + printable(`\`+string(b)))
		}
		l.sql()
	case myString:
		switch {
		case l.escaped:
			l.escaped = false
		case b == '\\' && l.quote != '`' && !l.noBackslashEscapes:
			l.escaped = true
		case b == l.quote:
			l.state = myNormal
		}
	case myDashes:
		if b == '-' {
			l.state = myLineComment // checked below: "--" then a blank
			l.prev = '-'
			return false
		}
		l.state = myNormal
		l.sql() // a minus sign
		return true
	case myLineComment:
		if l.prev == '-' {
			// "--" is a comment only when a blank or control follows.
			l.prev = 0
			if b > ' ' {
				l.state = myNormal
				l.sql()
				return true
			}
		}
		if b == '\n' {
			l.state = myNormal
		}
	case myBlockStart:
		if b == '*' {
			l.state = myBlockComment
			l.prev = 0
			return false
		}
		l.state = myNormal
		l.sql() // a division
		return true
	case myBlockComment:
		if l.prev == 0 && (b == '!' || b == 'M') {
			// /*! and /*M! hold code the client reads: on as SQL.
			l.state = myNormal
			l.sql()
			return false
		}
		if b == '/' && l.prev == '*' {
			l.state = myNormal
			return false
		}
		l.prev = b | 1 // never 0 once inside
		if b == '*' {
			l.prev = '*'
		}
	case myFirstWord:
		if isIdentByte(b) && len(l.word) < 32 {
			l.word = append(l.word, b)
			return false
		}
		end := isBlank(b) || b == '\n' || b == ';'
		word := ""
		if end {
			word = lowerWord(l.word)
		}
		switch {
		case !end || !mysqlCommands[word]:
			// SQL: the word and this byte start a statement.
			l.state = myNormal
			l.sql()
			return true
		case word == "delimiter":
			l.state = myDelimiter
			l.arg = l.arg[:0]
			return b == '\n'
		case word == "use":
			l.state = myRestOfLine
			return b == '\n'
		default:
			c.found("mysql client command " + word)
		}
	case myDelimiter:
		switch {
		case b == '\n' || (isBlank(b) && len(l.arg) > 0):
			if len(l.arg) == 0 {
				c.found("mysql delimiter command without a delimiter")
				return false
			}
			l.delim = string(l.arg)
			l.dmatch = 0
			l.empty = true
			l.state = myRestOfLine
			return b == '\n'
		case isBlank(b):
		case b == '\\':
			c.found("mysql delimiter holding a backslash")
		default:
			if len(l.arg) == 16 {
				c.found("mysql delimiter longer than 16 bytes")
				return false
			}
			l.arg = append(l.arg, b)
		}
	case myRestOfLine:
		if b == '\n' {
			l.state = myNormal
			l.empty = true
		}
	}
	return false
}
