package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/docker/go-units"
)

// The defaults of the upload guard. No real client is near them: 64 KiB
// a minute is about 9 kbit/s, below a 2G mobile link, and a client that
// streams a file has no reason to pause for a minute; a trickle (the
// attack: 154 bytes in 160 s) is cut within a minute.
const (
	defaultUploadIdle     = time.Minute
	defaultUploadMinBytes = 64 << 10
	defaultUploadWindow   = time.Minute
)

// ErrUploadTooSlow: a request body stalled or trickled, and was cut.
var ErrUploadTooSlow = errors.New("the upload is too slow")

// guardBody cuts the body of a request that sends nothing, or too little,
// for too long. The HTTP server has no body timeout (an upload of many
// GB takes long, and must); this takes its place, with read deadlines
// renewed as the server waits for data.
func (s *Server) guardBody(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// No body, nothing to guard; the server reads ahead on such a
		// connection, and a deadline set now would end the request.
		if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
			// A copy: the server looks at the body it gave (whether a
			// 100-continue body was read, to close the connection).
			r = r.WithContext(r.Context())
			r.Body = &bodyGuard{body: r.Body, rc: http.NewResponseController(w), idle: s.cfg.UploadIdleTimeout,
				min: s.cfg.UploadMinBytes, window: s.cfg.UploadWindow, deadlines: true}
		}
		next(w, r)
	})
}

// bodyGuard reads a request body under deadlines: each read may wait up
// to idle for data, and each window of waiting must bring at least min
// bytes. Only the time spent waiting for the client counts: a server
// that reads slowly (a busy disk) makes no client too slow.
type bodyGuard struct {
	body      io.ReadCloser
	rc        *http.ResponseController
	idle      time.Duration
	min       int64
	window    time.Duration
	deadlines bool

	// waited and got are the current window's.
	waited time.Duration
	got    int64
	eof    bool
	// cut says why the body was cut; nil while it flows.
	cut error
}

func (g *bodyGuard) Read(p []byte) (int, error) {
	if g.cut != nil {
		return 0, g.cut
	}
	if g.eof {
		return g.body.Read(p)
	}
	budget, rate := g.idle, false
	if left := g.window - g.waited; g.got < g.min && left < budget {
		budget, rate = left, true
	}
	start := time.Now()
	deadline := start.Add(budget)
	set := g.deadlines
	if set && g.rc.SetReadDeadline(deadline) != nil {
		// This server cannot set deadlines: the rate is still checked
		// whenever data arrives.
		g.deadlines, set = false, false
	}
	n, err := g.body.Read(p)
	took := time.Since(start)
	g.waited += took
	g.got += int64(n)
	if err == io.EOF {
		// The server clears the deadline itself at the body's end.
		g.eof = true
		return n, err
	}
	if err != nil && set && (errors.Is(err, os.ErrDeadlineExceeded) || !time.Now().Before(deadline)) {
		return n, g.fail(rate)
	}
	if !set && took >= g.idle {
		return n, g.fail(false)
	}
	if g.waited >= g.window {
		if g.got < g.min {
			return n, g.fail(true)
		}
		g.waited, g.got = 0, 0
	}
	return n, err
}

func (g *bodyGuard) fail(rate bool) error {
	if rate {
		g.cut = fmt.Errorf("%w: it sent less than %s in %s; it was cut, nothing was changed", ErrUploadTooSlow, units.BytesSize(float64(g.min)), g.window)
	} else {
		g.cut = fmt.Errorf("%w: it sent nothing for %s; it was cut, nothing was changed", ErrUploadTooSlow, g.idle)
	}
	return g.cut
}

func (g *bodyGuard) Close() error { return g.body.Close() }

// bodyCut is why r's body was cut, nil if it was not.
func bodyCut(r *http.Request) error {
	if g, ok := r.Body.(*bodyGuard); ok {
		return g.cut
	}
	return nil
}
