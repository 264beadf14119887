package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// helperRun is what a fake helper container does once started: what it
// writes on stdout and stderr, in the order of frames, and its exit code.
type helperRun struct {
	frames []frame
	code   int64
}

// frame is one write of the helper to stdout or (stderr set) stderr.
type frame struct {
	data   []byte
	stderr bool
}

// fakeAPI is the few Engine API calls helpers make. Calls it does not
// implement panic through the nil embedded interface.
type fakeAPI struct {
	client.APIClient
	mu       sync.Mutex
	run      helperRun
	created  []*container.Config
	removed  []string
	attached map[string]net.Conn // server ends, by container
	waits    map[string]chan container.WaitResponse
}

func newFakeAPI(run helperRun) *fakeAPI {
	return &fakeAPI{run: run, attached: map[string]net.Conn{}, waits: map[string]chan container.WaitResponse{}}
}

func (f *fakeAPI) ImageInspect(context.Context, string, ...client.ImageInspectOption) (image.InspectResponse, error) {
	return image.InspectResponse{Config: &dockerspec.DockerOCIImageConfig{}}, nil
}

func (f *fakeAPI) ContainerCreate(_ context.Context, cfg *container.Config, _ *container.HostConfig, _ *network.NetworkingConfig, _ *ocispec.Platform, _ string) (container.CreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, cfg)
	id := "helper" + string(rune('0'+len(f.created)))
	f.waits[id] = make(chan container.WaitResponse, 1)
	return container.CreateResponse{ID: id}, nil
}

func (f *fakeAPI) ContainerAttach(_ context.Context, id string, _ container.AttachOptions) (types.HijackedResponse, error) {
	ours, theirs := net.Pipe()
	f.mu.Lock()
	f.attached[id] = theirs
	f.mu.Unlock()
	return types.NewHijackedResponse(ours, ""), nil
}

func (f *fakeAPI) ContainerWait(_ context.Context, id string, _ container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.waits[id], make(chan error)
}

// ContainerStart plays the helper: its output goes out, then it exits. The
// exit is reported before the output is all written, as the engine may.
func (f *fakeAPI) ContainerStart(_ context.Context, id string, _ container.StartOptions) error {
	f.mu.Lock()
	conn, wait, run := f.attached[id], f.waits[id], f.run
	f.mu.Unlock()
	wait <- container.WaitResponse{StatusCode: run.code}
	if conn == nil {
		return nil
	}
	go func() {
		defer conn.Close()
		writeFrames(conn, run.frames)
	}()
	return nil
}

func (f *fakeAPI) ContainerRemove(_ context.Context, id string, _ container.RemoveOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, id)
	return nil
}

// execRun is what a fake exec does: its frames, then (unless it hangs,
// as a dump waiting on a lock does) its exit code.
type execRun struct {
	frames []frame
	hang   bool
	code   int
	// exitUnread ends the output without reading stdin or closing the
	// connection, as the engine does when a process exits before it has
	// read all of its input.
	exitUnread bool
}

// fakeExecs answers execs in order of creation with runs, and records
// their commands and users.
type fakeExecs struct {
	*fakeAPI
	runs  []execRun
	cmds  [][]string
	users []string
}

func (f *fakeExecs) ContainerExecCreate(_ context.Context, _ string, opts container.ExecOptions) (container.ExecCreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, opts.Cmd)
	f.users = append(f.users, opts.User)
	return container.ExecCreateResponse{ID: strconv.Itoa(len(f.cmds) - 1)}, nil
}

func (f *fakeExecs) ContainerExecAttach(_ context.Context, id string, _ container.ExecAttachOptions) (types.HijackedResponse, error) {
	i, _ := strconv.Atoi(id)
	run := execRun{}
	f.mu.Lock()
	if i < len(f.runs) {
		run = f.runs[i]
	}
	f.mu.Unlock()
	if run.exitUnread {
		return tcpExit(run.frames)
	}
	ours, theirs := net.Pipe()
	go func() {
		if err := writeFrames(theirs, run.frames); err != nil {
			return
		}
		if run.hang {
			// Until the client hangs up.
			_, _ = io.Copy(io.Discard, theirs)
		}
		theirs.Close()
	}()
	return types.NewHijackedResponse(ours, ""), nil
}

func (f *fakeExecs) ContainerExecInspect(_ context.Context, id string) (container.ExecInspect, error) {
	i, _ := strconv.Atoi(id)
	f.mu.Lock()
	defer f.mu.Unlock()
	code := 0
	if i < len(f.runs) {
		code = f.runs[i].code
	}
	return container.ExecInspect{ExecID: id, ExitCode: code}, nil
}

// writeFrames writes frames to conn multiplexed, as the engine does.
func writeFrames(conn net.Conn, frames []frame) error {
	out := stdcopy.NewStdWriter(conn, stdcopy.Stdout)
	errw := stdcopy.NewStdWriter(conn, stdcopy.Stderr)
	for _, fr := range frames {
		w := out
		if fr.stderr {
			w = errw
		}
		if _, err := w.Write(fr.data); err != nil {
			return err
		}
	}
	return nil
}

// tcpExit is a connection over loopback TCP whose far end writes frames,
// then half-closes and reads nothing more: writes to it block once the
// socket buffers are full, as they do to an engine whose process exited.
func tcpExit(frames []frame) (types.HijackedResponse, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return types.HijackedResponse{}, err
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	ours, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return types.HijackedResponse{}, err
	}
	theirs, ok := <-accepted
	if !ok {
		return types.HijackedResponse{}, errors.New("no connection accepted")
	}
	if err := writeFrames(theirs, frames); err != nil {
		return types.HijackedResponse{}, err
	}
	_ = theirs.(*net.TCPConn).CloseWrite()
	go func() {
		// Held open, unread, until the test process ends.
		<-make(chan struct{})
		theirs.Close()
	}()
	return types.NewHijackedResponse(ours, ""), nil
}
