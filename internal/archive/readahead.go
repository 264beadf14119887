package archive

import (
	"io"
	"sync"
)

// readAheadSize and readAheadSlots bound what readAhead holds: a few
// buffers, so that memory stays small whatever the archive's size.
const (
	readAheadSize  = 1 << 20
	readAheadSlots = 4
)

// readAhead decompresses in a goroutine of its own, a few buffers ahead of
// its reader: the tar parsing and the hashing then run on one core while
// the decompressor runs on another. (The zstd decoder's own concurrency
// does that too, but reports a corrupt block near the end as a truncated
// stream.) Errors come in stream order, after the data read before them.
type readAhead struct {
	full chan aheadChunk
	free chan []byte
	done chan struct{}
	once sync.Once
	cur  aheadChunk
	off  int
}

type aheadChunk struct {
	b   []byte
	err error
}

// newReadAhead starts reading r. The goroutine closes r when it stops: at
// r's end or error, or once Close was called.
func newReadAhead(r io.ReadCloser) *readAhead {
	ra := &readAhead{
		full: make(chan aheadChunk, readAheadSlots),
		free: make(chan []byte, readAheadSlots),
		done: make(chan struct{}),
	}
	for range readAheadSlots {
		ra.free <- make([]byte, readAheadSize)
	}
	go ra.fill(r)
	return ra
}

func (ra *readAhead) fill(r io.ReadCloser) {
	defer r.Close()
	for {
		var b []byte
		select {
		case b = <-ra.free:
		case <-ra.done:
			return
		}
		n := 0
		var err error
		for n < len(b) && err == nil {
			var k int
			k, err = r.Read(b[n:])
			n += k
		}
		// Never blocks: there are only readAheadSlots buffers.
		ra.full <- aheadChunk{b: b[:n], err: err}
		if err != nil {
			return
		}
	}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for ra.off == len(ra.cur.b) {
		if ra.cur.err != nil {
			return 0, ra.cur.err
		}
		if ra.cur.b != nil {
			ra.free <- ra.cur.b[:cap(ra.cur.b)]
		}
		ra.cur, ra.off = <-ra.full, 0
	}
	n := copy(p, ra.cur.b[ra.off:])
	ra.off += n
	return n, nil
}

// Close stops the reading; it does not wait for a read under way.
func (ra *readAhead) Close() error {
	ra.once.Do(func() { close(ra.done) })
	return nil
}
