package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// A cancelled dump is stopped inside its container: closing the
// connection leaves pg_dump running there, holding its transaction.
func TestExecKillsTheCommandWhenCancelled(t *testing.T) {
	api := &fakeExecs{fakeAPI: newFakeAPI(helperRun{}), runs: []execRun{
		{frames: []frame{{data: []byte("docker-backup-pid 42\n"), stderr: true}, {data: []byte("some dump")}}, hang: true},
	}}
	e := New(api)
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := e.Exec(ctx, "db", ExecOptions{Cmd: []string{"pg_dump", "--dbname=shop"}, User: "postgres", Stdout: &out, KillOnCancel: true})
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Exec did not return after the cancel")
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.cmds) != 2 {
		t.Fatalf("execs: %q", api.cmds)
	}
	if got := api.cmds[0]; got[0] != "sh" || got[len(got)-2] != "pg_dump" || got[len(got)-1] != "--dbname=shop" {
		t.Errorf("the dump did not run under the pid wrapper: %q", got)
	}
	kill := api.cmds[1]
	if kill[0] != "sh" || kill[len(kill)-1] != "42" || !strings.Contains(strings.Join(kill, " "), "kill -INT") || api.users[1] != "postgres" {
		t.Errorf("kill: %q as %q", kill, api.users[1])
	}
}

func TestExecPassesStderrOnAndKillsNothingWhenDone(t *testing.T) {
	api := &fakeExecs{fakeAPI: newFakeAPI(helperRun{}), runs: []execRun{
		{frames: []frame{{data: []byte("docker-backup-pid 7\nERROR:  relation"), stderr: true}, {data: []byte(" x does not exist\n"), stderr: true}}, code: 1},
		{frames: []frame{{data: []byte("plain\n"), stderr: true}}},
	}}
	e := New(api)
	var stderr bytes.Buffer
	code, err := e.Exec(context.Background(), "db", ExecOptions{Cmd: []string{"psql"}, Stderr: &stderr, KillOnCancel: true})
	if err != nil || code != 1 {
		t.Fatalf("code %d, %v", code, err)
	}
	if stderr.String() != "ERROR:  relation x does not exist\n" {
		t.Errorf("stderr %q", stderr.String())
	}
	stderr.Reset()
	if _, err := e.Exec(context.Background(), "db", ExecOptions{Cmd: []string{"psql"}, Stderr: &stderr}); err != nil {
		t.Fatal(err)
	}
	if stderr.String() != "plain\n" || api.cmds[1][0] != "psql" {
		t.Errorf("without KillOnCancel: %q, %q", api.cmds[1], stderr.String())
	}
	if len(api.cmds) != 2 {
		t.Errorf("a kill ran after a command that ended: %q", api.cmds)
	}
}

// A client that stops at an error exits without reading the rest of its
// input: Exec returns its exit code at once, not once a write of stdin
// gives up minutes later.
func TestExecReturnsWhenTheProcessExitsBeforeReadingItsInput(t *testing.T) {
	api := &fakeExecs{fakeAPI: newFakeAPI(helperRun{}), runs: []execRun{
		{frames: []frame{{data: []byte("ERROR:  syntax error\n"), stderr: true}}, code: 3, exitUnread: true},
		{frames: []frame{{data: []byte("done\n")}}, code: 0, exitUnread: true},
	}}
	e := New(api)
	endless := io.MultiReader(strings.NewReader("COPY t FROM STDIN;\n"), zeros{})
	done := make(chan struct{})
	var code int
	var err error
	var stderr bytes.Buffer
	go func() {
		defer close(done)
		code, err = e.Exec(context.Background(), "db", ExecOptions{Cmd: []string{"psql"}, Stdin: endless, Stderr: &stderr})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Exec still feeds a process that has exited")
	}
	if err != nil || code != 3 || !strings.Contains(stderr.String(), "syntax error") {
		t.Errorf("code %d, err %v, stderr %q", code, err, stderr.String())
	}
	// Exit code 0 with input left unread is not a success.
	code, err = e.Exec(context.Background(), "db", ExecOptions{Cmd: []string{"psql"}, Stdin: io.MultiReader(strings.NewReader("x"), zeros{})})
	if err == nil || !strings.Contains(err.Error(), "before it read all of its input") {
		t.Errorf("exit 0 with input unread: code %d, %v", code, err)
	}
}

// zeros is an endless input.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
