package dbdump

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestSplitPattern(t *testing.T) {
	tests := []struct {
		pattern string
		parts   int
		want    []string
		wantErr bool
	}{
		{"sessions", 2, []string{"*", "sessions"}, false},
		{"app.sessions", 2, []string{"app", "sessions"}, false},
		{"app.*", 2, []string{"app", "*"}, false},
		{"a?p.sess[io]*", 2, []string{"a?p", "sess[io]*"}, false},
		{"sessions", 3, []string{"*", "*", "sessions"}, false},
		{"public.sessions", 3, []string{"*", "public", "sessions"}, false},
		{"app.public.sessions", 3, []string{"app", "public", "sessions"}, false},
		{"app.public.sessions", 2, nil, true},
		{"a.b.c.d", 3, nil, true},
		{"", 2, nil, true},
		{".sessions", 2, nil, true},
		{"app.", 2, nil, true},
		{"app..t", 3, nil, true},
		{"app.[", 2, nil, true},
		{"[a-", 3, nil, true},
	}
	for _, tt := range tests {
		got, err := splitPattern(tt.pattern, tt.parts)
		if (err != nil) != tt.wantErr {
			t.Errorf("splitPattern(%q, %d) error = %v, wantErr %v", tt.pattern, tt.parts, err, tt.wantErr)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), "invalid table pattern") {
				t.Errorf("splitPattern(%q) error %q", tt.pattern, err)
			}
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitPattern(%q, %d) = %v, want %v", tt.pattern, tt.parts, got, tt.want)
		}
	}
	_, err := splitPattern("a.b.c", 2)
	if err == nil || !strings.Contains(err.Error(), "db.table") {
		t.Errorf("MySQL error %v should show db.table", err)
	}
	_, err = splitPattern("a.b.c.d", 3)
	if err == nil || !strings.Contains(err.Error(), "db.schema.table") {
		t.Errorf("PostgreSQL error %v should show db.schema.table", err)
	}
}

func TestValidatePatterns(t *testing.T) {
	tests := []struct {
		engine   string
		patterns []string
		wantErr  bool
	}{
		{Postgres, nil, false},
		{Postgres, []string{"sessions", "public.cache", "app.public.*"}, false},
		{Postgres, []string{"ok", "a.b.c.d"}, true},
		{MySQL, []string{"sessions", "app.*"}, false},
		{MySQL, []string{"app.public.sessions"}, true},
		{MySQL, []string{""}, true},
		{"", []string{"a.b.c"}, false}, // unknown engines get PostgreSQL's rules
	}
	for _, tt := range tests {
		err := ValidatePatterns(tt.engine, tt.patterns)
		if (err != nil) != tt.wantErr {
			t.Errorf("ValidatePatterns(%q, %q) = %v, wantErr %v", tt.engine, tt.patterns, err, tt.wantErr)
		}
	}
}

func TestPgExclusions(t *testing.T) {
	got, err := pgExclusions("app", []string{"sessions", "public.cache", "app.audit.*", "other.x.y", "a*.s.t"}, "--exclude-table=")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--exclude-table=*.sessions", "--exclude-table=public.cache", "--exclude-table=audit.*", "--exclude-table=s.t"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pgExclusions = %v, want %v", got, want)
	}
	if _, err := pgExclusions("app", []string{"a.b.c.d"}, "--exclude-table="); err == nil {
		t.Error("invalid pattern accepted")
	}
}

func TestSafeFileName(t *testing.T) {
	tests := []struct {
		name, want string
	}{
		{"app", "app"},
		{"App_2-x", "App_2-x"},
		{"my.db", "my.db"},
		{"my db", "my%20db"},
		{".hidden", "%2Ehidden"},
		{".", "%2E"},
		{"..", "%2E."},
		{"../etc/passwd", "%2E.%2Fetc%2Fpasswd"},
		{`a\b`, "a%5Cb"},
		{"50%", "50%25"},
		{"café", "caf%C3%A9"},
		{"a:b*c?", "a%3Ab%2Ac%3F"},
		{"new\nline", "new%0Aline"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := safeFileName(tt.name)
		if got != tt.want {
			t.Errorf("safeFileName(%q) = %q, want %q", tt.name, got, tt.want)
		}
		if strings.ContainsAny(got, "/\\ \n") || got == "." || got == ".." || strings.HasPrefix(got, ".") {
			t.Errorf("safeFileName(%q) = %q is not a plain file name", tt.name, got)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%q and %q both give %q", other, tt.name, got)
		}
		seen[got] = tt.name
	}
}

func TestMySQLFileName(t *testing.T) {
	for name, want := range map[string]string{"users": "%75sers", "Users": "Users", "users2": "users2", "app": "app"} {
		if got := mysqlFileName(name); got != want {
			t.Errorf("mysqlFileName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 10}
	for _, s := range []string{"0123456789", "abc", "defghijklmnop"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write = %d %v", n, err)
		}
	}
	if got := b.String(); got != "ghijklmnop" {
		t.Errorf("tail %q", got)
	}
	b = &tailBuffer{max: 100}
	b.Write([]byte("  error: x \n\n"))
	if got := b.String(); got != "error: x" {
		t.Errorf("trimmed %q", got)
	}
}

func TestLimitedBuffer(t *testing.T) {
	b := &limitedBuffer{max: 5}
	if _, err := b.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write([]byte("def")); err == nil {
		t.Error("write over the limit accepted")
	}
	if _, err := io.WriteString(b, "def"); err == nil {
		t.Error("WriteString over the limit accepted")
	}
	if _, err := io.Copy(b, strings.NewReader("def")); err == nil {
		t.Error("io.Copy over the limit accepted")
	}
	if b.String() != "abc" {
		t.Errorf("buffer %q", b.String())
	}
}

func TestCapture(t *testing.T) {
	x := &fakeExec{handler: func(cmd, env []string) reply {
		switch cmd[0] {
		case "ok":
			return reply{stdout: "out\n", stderr: "warning"}
		case "fail":
			return reply{stdout: "partial", stderr: "\nbad thing\n", code: 4}
		case "silent":
			return reply{code: 1}
		case "big":
			return reply{stdout: strings.Repeat("x", maxCapture+1)}
		}
		return reply{err: errors.New("exec failed")}
	}}
	ctx := context.Background()
	if out, err := capture(ctx, x, "c1", []string{"ok", "secret-arg"}, []string{"E=1"}); out != "out\n" || err != nil {
		t.Errorf("ok: %q %v", out, err)
	}
	if c := x.recorded()[0]; c.id != "c1" || !reflect.DeepEqual(c.env, []string{"E=1"}) {
		t.Errorf("call %+v", c)
	}
	_, err := capture(ctx, x, "c1", []string{"fail", "secret-arg"}, nil)
	if err == nil || err.Error() != "fail failed (exit code 4): bad thing" {
		t.Errorf("fail: %v", err)
	}
	if _, err := capture(ctx, x, "c1", []string{"silent"}, nil); err == nil || !strings.Contains(err.Error(), "no error output") {
		t.Errorf("silent: %v", err)
	}
	if _, err := capture(ctx, x, "c1", []string{"big"}, nil); err == nil {
		t.Error("output over the limit accepted")
	}
	if _, err := capture(ctx, x, "c1", []string{"other"}, nil); err == nil || err.Error() != "exec failed" {
		t.Errorf("exec error: %v", err)
	}
}

func TestStream(t *testing.T) {
	x := &fakeExec{handler: func(cmd, env []string) reply {
		switch cmd[0] {
		case "one", "two":
			return reply{stdout: cmd[0] + ";"}
		case "fail":
			return reply{stdout: "half", stderr: "disk full", code: 5}
		}
		return reply{err: errors.New("connection lost")}
	}}
	ctx := context.Background()
	read := func(cmds ...[]string) (string, error) {
		rc := stream(ctx, x, "c1", cmds, []string{"PW=x"})
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	if out, err := read([]string{"one"}, []string{"two"}); out != "one;two;" || err != nil {
		t.Errorf("stream = %q %v", out, err)
	}
	out, err := read([]string{"one"}, []string{"fail"}, []string{"two"})
	if err == nil || err.Error() != "fail failed (exit code 5): disk full" || out != "one;half" {
		t.Errorf("failing stream = %q %v", out, err)
	}
	if _, err := read([]string{"lost"}); err == nil || err.Error() != "connection lost" {
		t.Errorf("exec error %v", err)
	}
	if n := len(x.callsOf("two")); n != 1 {
		t.Errorf("two ran %d times: commands ran after a failure", n)
	}
	for _, c := range x.recorded() {
		if !reflect.DeepEqual(c.env, []string{"PW=x"}) {
			t.Errorf("env %q", c.env)
		}
	}

	// Closing early stops the command's output instead of hanging.
	done := make(chan struct{})
	y := &fakeExec{handler: func(cmd, env []string) reply { return reply{stdout: strings.Repeat("x", 1<<20)} }}
	rc := stream(ctx, y, "c1", [][]string{{"big"}}, nil)
	go func() {
		defer close(done)
		buf := make([]byte, 10)
		io.ReadFull(rc, buf)
		rc.Close()
	}()
	<-done
}

func TestLines(t *testing.T) {
	if got := lines("a\r\n\nb\n c \n"); !reflect.DeepEqual(got, []string{"a", "b", " c "}) {
		t.Errorf("lines = %q", got)
	}
	if got := lines(""); got != nil {
		t.Errorf("lines(\"\") = %q", got)
	}
}
