package restore

import (
	"io"
	"sync"
)

// chunkSize and chunkSlots size the buffer between the archive pass and
// each loader: enough that a loader busy for a moment (a volume's files
// being created, an index being built) does not stall the others, bounded
// so that memory stays small: a loader holds at most chunkSlots+2 chunks.
const (
	chunkSize  = 512 << 10
	chunkSlots = 4
)

// freeChunks keeps chunks the loaders have read for the next writes: a
// restore streams gigabytes through a few megabytes, and fresh chunks
// would each be zeroed and collected.
var freeChunks = make(chan []byte, 8)

func getChunk() []byte {
	select {
	case c := <-freeChunks:
		return c[:0]
	default:
		return make([]byte, 0, chunkSize)
	}
}

func putChunk(c []byte) {
	select {
	case freeChunks <- c:
	default:
	}
}

// chunkPipe is an io.Pipe with a bounded buffer: writes return once their
// data is buffered, reads take it in order. The writer ends the stream with
// CloseWithError (nil: EOF); the reader gives up with CloseRead, after
// which writes fail with the reader's error.
type chunkPipe struct {
	ch     chan []byte
	closed chan struct{} // the reader gave up
	wOnce  sync.Once
	rOnce  sync.Once
	werr   error // what reads return after the last chunk
	rerr   error
	buf    []byte // the writer's partial chunk
	cur    []byte // what is left to read of the reader's current chunk
	full   []byte // the reader's current chunk, whole, to reuse
}

func newChunkPipe() *chunkPipe {
	return &chunkPipe{ch: make(chan []byte, chunkSlots), closed: make(chan struct{})}
}

func (p *chunkPipe) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if p.buf == nil {
			p.buf = getChunk()
		}
		k := copy(p.buf[len(p.buf):cap(p.buf)], b)
		p.buf = p.buf[:len(p.buf)+k]
		b = b[k:]
		n += k
		if len(p.buf) == cap(p.buf) {
			if err := p.send(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (p *chunkPipe) send() error {
	select {
	case <-p.closed:
		return p.rerr
	default:
	}
	select {
	case p.ch <- p.buf:
		p.buf = nil
		return nil
	case <-p.closed:
		return p.rerr
	}
}

// CloseWithError ends the stream: after the buffered data, reads return
// err, or io.EOF when err is nil.
func (p *chunkPipe) CloseWithError(err error) {
	p.wOnce.Do(func() {
		if err == nil {
			err = io.EOF
			if len(p.buf) > 0 {
				if serr := p.send(); serr != nil {
					err = serr
				}
			}
		}
		p.werr = err
		close(p.ch)
	})
}

// Close ends the stream with EOF.
func (p *chunkPipe) Close() error {
	p.CloseWithError(nil)
	return nil
}

func (p *chunkPipe) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		if p.full != nil {
			putChunk(p.full)
			p.full = nil
		}
		select {
		case c, ok := <-p.ch:
			if !ok {
				return 0, p.werr
			}
			p.cur, p.full = c, c
		case <-p.closed:
			return 0, p.rerr
		}
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// CloseRead gives up reading: pending and later writes fail with err (or
// io.ErrClosedPipe).
func (p *chunkPipe) CloseRead(err error) {
	p.rOnce.Do(func() {
		if err == nil {
			err = io.ErrClosedPipe
		}
		p.rerr = err
		close(p.closed)
	})
}
