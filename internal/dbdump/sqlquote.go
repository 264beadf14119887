package dbdump

import "strings"

// The SQL docker-backup writes for a server's client must mean what it
// says whatever the server is set to: a role or a server may set
// standard_conforming_strings = off (PostgreSQL), NO_BACKSLASH_ESCAPES
// (MySQL, MariaDB) or a client encoding in which a backslash can be the
// second byte of a character (SJIS, GBK, BIG5), and a literal written for
// one reading then ends somewhere else, the rest of the value running as
// SQL. So every literal and identifier goes through the functions here,
// written in a form that keeps its extent under every setting, and every
// script and session fixes the settings on top, so that the value, too,
// is read as written.

// pgSessionSQL starts every script docker-backup gives psql.
const pgSessionSQL = "SET standard_conforming_strings = on;\nSET client_encoding = 'UTF8';\n"

// pgSessionEnv sets the same for every connection of psql and pg_restore,
// from its start: the options of a connection take precedence over a
// role's or a database's settings.
var pgSessionEnv = []string{"PGOPTIONS=-c standard_conforming_strings=on", "PGCLIENTENCODING=UTF8"}

const hexDigits = "0123456789abcdef"

// pgLiteral quotes a string as a PostgreSQL escape string, E'...', which
// reads the same whether standard_conforming_strings is on or off: every
// backslash doubled, every quote doubled (never \', which backslash_quote
// may refuse), control characters as \xHH, so that a statement keeps its
// lines (psql stops a line at a NUL; a NUL escaped is refused by the
// server, as PostgreSQL text holds none). The E must follow a blank,
// comma, operator or parenthesis, never a name: xE” is a name and a plain
// string.
func pgLiteral(s string) string { return string(pgAppendLiteral(nil, s)) }

func pgAppendLiteral(b []byte, s string) []byte {
	b = append(b, "E'"...)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\'':
			b = append(b, '\'', '\'')
		case c < 0x20 || c == 0x7f:
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '\'')
}

// pgIdent quotes an identifier: no setting changes how "..." is read.
// A NUL cannot be quoted (pgCheckName refuses it).
func pgIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// mySession starts every script and -e statement docker-backup gives the
// mysql client, before any literal: the connection's character set, in
// which no byte of a character is a quote or a backslash, and no
// NO_BACKSLASH_ESCAPES (a script then sets the sql_mode it needs, which
// never holds it). The client reads the statements that follow with the
// sql_mode the server reports after each.
const mySession = "SET NAMES utf8mb4;\nSET SESSION sql_mode = '';\n"

// MySQLSession is mySession for other packages' statements (the test
// restore's account).
const MySQLSession = mySession

// myLiteral quotes a string for MySQL and MariaDB as they read it without
// NO_BACKSLASH_ESCAPES, which every session here turns off: backslash,
// NUL, CR, LF and ^Z escaped, so that a statement stays on one line and
// whatever reads it (the client in binary mode included) sees the same
// bytes. Quotes are doubled, never \': with NO_BACKSLASH_ESCAPES on (a
// server's global sql_mode, before a script's SET) the literal still ends
// where it should, and only its backslashes would read twice.
func myLiteral(s string) string { return string(myAppendLiteral(nil, s)) }

// MySQLLiteral is myLiteral for other packages.
func MySQLLiteral(s string) string { return myLiteral(s) }

func myAppendLiteral(b []byte, s string) []byte {
	b = append(b, '\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case 0:
			b = append(b, '\\', '0')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case 0x1a:
			b = append(b, '\\', 'Z')
		case '\\':
			b = append(b, '\\', '\\')
		case '\'':
			b = append(b, '\'', '\'')
		default:
			b = append(b, c)
		}
	}
	return append(b, '\'')
}

// myIdent quotes an identifier: backticks doubled; no sql_mode changes how
// `...` is read (ANSI_QUOTES only adds "...").
func myIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
