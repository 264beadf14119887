package dbdump

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// pgGlobals is pg_dumpall --globals-only output of PostgreSQL 17.6 and
// later (15.14, 16.10), which opens and closes with \restrict lines.
const pgGlobals = `--
-- PostgreSQL database cluster dump
--

\restrict 6xYf0qWb3hHkTn2a8Ljs1cEw9PzRmVdGuKo4iQ7tA5NyXe

SET default_transaction_read_only = off;

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Roles
--

CREATE ROLE app;
ALTER ROLE app WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$a2V5:c2Vy';
CREATE ROLE "we\ird""role";
COMMENT ON ROLE app IS 'C:\temp\new; it''s fine -- not a comment';
ALTER ROLE app SET search_path TO E'\\x\'';
DO $body$ BEGIN RAISE NOTICE '\! not run'; END $body$;
DO $$ SELECT 1 \! $$;
SELECT $1, 'x'; /* a /* nested \! */ comment */ -- and \! here

\unrestrict 6xYf0qWb3hHkTn2a8Ljs1cEw9PzRmVdGuKo4iQ7tA5NyXe

--
-- PostgreSQL database cluster dump complete
--
`

// mysqlDump is what mysqldump and mariadb-dump write, tricky parts
// included.
const mysqlDump = "/*M!999999\\- enable the sandbox mode */ \n" +
	`-- MariaDB dump 10.19  Distrib 10.11.14-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: localhost    Database: shop   (and a \! in a comment)
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
# another comment \!
CREATE DATABASE /*!32312 IF NOT EXISTS*/ ` + "`shop`" + ` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;

USE ` + "`shop`" + `;
CREATE TABLE ` + "`t\\x`" + ` (
  ` + "`source`" + ` varchar(20) DEFAULT NULL,
  ` + "`status`" + ` int(11) DEFAULT 0
) ENGINE=InnoDB;
INSERT INTO ` + "`t\\x`" + ` VALUES ('it\'s \\ fine\n',1),('\\',2),("double \" \\! quoted",3),(NULL,4-1),(0x5C21,5/1);
SELECT a,
source
FROM t;
DELIMITER ;;
/*!50003 CREATE*/ /*!50017 DEFINER=` + "`root`@`localhost`" + `*/ /*!50003 TRIGGER trg BEFORE INSERT ON t FOR EACH ROW BEGIN
  SET NEW.status = 1;
status_check: LOOP LEAVE status_check; END LOOP;
END */;;
DELIMITER ;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
-- Dump completed
`

func check(d Dialect, text string) error {
	c := NewChecker(d, "databases/db/x.sql")
	// Byte by byte, so that no token depends on where a write ends.
	for i := 0; i < len(text); i++ {
		c.Write([]byte{text[i]})
	}
	return c.Close()
}

func TestCheckerAcceptsDumps(t *testing.T) {
	if err := check(PSQL, pgGlobals); err != nil {
		t.Errorf("pg_dumpall output: %v", err)
	}
	if err := check(MySQLClient, mysqlDump); err != nil {
		t.Errorf("mariadb-dump output: %v", err)
	}
	// Filtered, the dumps pass whole, but for the \restrict lines, which
	// the load replaces with its own.
	out, err := io.ReadAll(FilterReader(PSQL, "g", iotest.OneByteReader(strings.NewReader(pgGlobals))))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), `restrict`) || !strings.Contains(string(out), "PASSWORD 'SCRAM") || !strings.HasSuffix(string(out), "complete\n--\n") {
		t.Errorf("filtered globals:\n%s", out)
	}
	out, err = io.ReadAll(FilterReader(MySQLClient, "d", strings.NewReader(mysqlDump)))
	if err != nil || string(out) != mysqlDump {
		t.Errorf("filtered dump changed: %v", err)
	}
}

func TestCheckerRefusesClientCommands(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    Dialect
		text string
		line int64
		what string
	}{
		{"psql shell", PSQL, pgGlobals + "\\! touch /tmp/pwned\n", 30, `\!`},
		{"psql shell mid-line", PSQL, "SELECT 1;\nSELECT 2; \\! touch /tmp/pwned\n", 2, `\!`},
		{"psql at the end, no newline", PSQL, "SELECT 1;\n\\! id", 2, `\!`},
		{"psql include", PSQL, "\\i /etc/passwd\n", 1, `\i`},
		{"psql copy program", PSQL, "\\copy t from program 'id'\n", 1, `\copy`},
		{"psql restrict mid-line", PSQL, "SELECT 1; \\restrict abc\n", 1, `\restrict`},
		{"psql restrict with a shell", PSQL, "\\restrict abc; \\! id\n", 1, `\restrict`},
		{"psql after an E string", PSQL, "SELECT E'\\\\';\n\\! id\n", 2, `\!`},
		// With standard_conforming_strings off, 'a\' goes on; with it on,
		// it ends: the command is found whichever the session has.
		{"psql strings read both ways", PSQL, "SET standard_conforming_strings = off;\nSELECT 'a\\'; \\! id\n", 2, `\!`},
		{"psql strings read both ways, reverse", PSQL, "SELECT 'a\\'; \\! id --'\n", 1, `\!`},
		{"psql after a dollar quote", PSQL, "DO $x$ '$x$; \\! id\n", 1, `\!`},
		{"psql after a comment", PSQL, "/* a */ \\! id\n", 1, `\!`},
		{"mysql system", MySQLClient, mysqlDump + "system touch /tmp/pwned\n", 27, `system`},
		{"mysql system, upper case and indented", MySQLClient, "SELECT 1;\n  SYSTEM id\n", 2, `system`},
		{"mysql source", MySQLClient, "source /etc/passwd\n", 1, `source`},
		{"mysql shell", MySQLClient, "SELECT 1;\n\\! touch /tmp/pwned\n", 2, `\!`},
		{"mysql shell mid-line", MySQLClient, "SELECT 1; \\! id\n", 1, `\!`},
		{"mysql shell in an executable comment", MySQLClient, "/*!40101 \\! id */;\n", 1, `\!`},
		{"mysql shell after a string", MySQLClient, "INSERT INTO t VALUES ('a\\\\'); \\. /etc/passwd\n", 1, `\.`},
		{"mysql system after the delimiter changed", MySQLClient, "DELIMITER ;;\nSELECT 1;;\nsystem id\n", 3, `system`},
		{"mysql tee after a comment line", MySQLClient, "SELECT 1;\n-- x\ntee /tmp/out\n", 3, `tee`},
		{"mysql source at the very end", MySQLClient, "SELECT 1;\nsource", 2, `source`},
		{"mysql delimiter with a backslash", MySQLClient, "DELIMITER \\!\n", 1, "backslash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := check(tc.d, tc.text)
			var ue *UnsafeDumpError
			if !errors.As(err, &ue) || !errors.Is(err, ErrClientCommand) {
				t.Fatalf("got %v", err)
			}
			if ue.Line != tc.line || !strings.Contains(ue.What, tc.what) || !strings.Contains(err.Error(), "databases/db/x.sql, line") {
				t.Errorf("got %q (line %d), want line %d and %s", err, ue.Line, tc.line, tc.what)
			}
			// A load stops before the command reaches the client.
			out, err := io.ReadAll(FilterReader(tc.d, "x", strings.NewReader(tc.text)))
			if !errors.Is(err, ErrClientCommand) {
				t.Fatalf("filter: %v", err)
			}
			if tc.what == "system" && strings.Contains(strings.ToLower(string(out)), "system") {
				t.Errorf("filter passed the command's name on: %q", out)
			}
			if strings.Contains(string(out), "id\n") || strings.Contains(string(out), "pwned") || strings.Contains(string(out), "/etc/passwd") {
				t.Errorf("filter passed the command on: %q", out)
			}
		})
	}
}

// A dump that ends with a line's first word loses nothing in the filter.
func TestFilterKeepsAFinalWord(t *testing.T) {
	for _, text := range []string{"SELECT 1;\nSELECT", "SELECT 1;\nuse", "x"} {
		out, err := io.ReadAll(FilterReader(MySQLClient, "d", strings.NewReader(text)))
		if err != nil || string(out) != text {
			t.Errorf("%q: %q, %v", text, out, err)
		}
	}
}

func BenchmarkCheckerMySQL(b *testing.B) {
	row := "INSERT INTO `t` VALUES (1,'some text with \\'quotes\\' and \\\\ backslashes',NULL,0x0102),(2,'more',3.5,0x03);\n"
	text := []byte(strings.Repeat(row, 10000))
	b.SetBytes(int64(len(text)))
	for range b.N {
		c := NewChecker(MySQLClient, "d")
		c.Write(text)
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// The lexers' readings of tricky quoting, as psql 15 reads them (run in
// the test image, with standard_conforming_strings on and off): a command
// psql runs in either is refused, one it runs in neither is not.
func TestCheckerReadsQuotesAsPsql(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		runs bool
	}{
		{"SELECT a$E'\\' \\! echo x\n", true},        // a$E is a name: '\' a plain string
		{"SELECT $E'\\' \\! echo x #';\n", false},    // $ alone, then E'...'
		{"SELECT 1E'\\'' \\! echo x\n", true},        // off: 1E'\'' ends at the third quote
		{"SELECT 1.E'\\'' \\! echo x\n", true},       // the same
		{"SELECT $1E'\\'' \\! echo x\n", true},       // the same
		{"SELECT 'a'\n'\\' \\! echo x\n", true},      // two strings
		{"SELECT E'a'\n'\\' \\! echo x #';\n", true}, // psql does not join strings across lines
		{"SELECT E'a' -- c\n'\\' \\! echo x #';\n", true},
		{"SELECT E'a' '\\' \\! echo x #';\n", true},
		{"SELECT E'x''\\'' \\! echo x\n", true}, // '' is a quote inside an escape string
		{"SELECT U&'\\' \\! echo x\n", true},    // U&'' has no backslash escapes, also with standard_conforming_strings off
	} {
		c := NewChecker(PSQL, "t")
		c.Write([]byte(tc.sql))
		if err := c.Close(); (err != nil) != tc.runs {
			t.Errorf("%q: %v", tc.sql, err)
		}
	}
}
