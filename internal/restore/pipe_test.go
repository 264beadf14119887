package restore

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

func TestChunkPipeCarriesDataInOrder(t *testing.T) {
	p := newChunkPipe()
	want := pattern(5*chunkSize+123, 3)
	go func() {
		for b := want; len(b) > 0; {
			n := min(len(b), 70000)
			if _, err := p.Write(b[:n]); err != nil {
				t.Error(err)
			}
			b = b[n:]
		}
		p.CloseWithError(nil)
	}()
	got, err := io.ReadAll(p)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, %v", len(got), err)
	}
}

func TestChunkPipeWriterError(t *testing.T) {
	p := newChunkPipe()
	boom := errors.New("boom")
	p.Write([]byte("abc"))
	p.CloseWithError(boom)
	got, err := io.ReadAll(p)
	// Buffered data that was not a full chunk is dropped with the error:
	// a failed stream is never taken for a whole one.
	if !errors.Is(err, boom) || len(got) > 3 {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestChunkPipeReaderGivesUp(t *testing.T) {
	p := newChunkPipe()
	done := make(chan error, 1)
	go func() {
		big := make([]byte, (chunkSlots+3)*chunkSize)
		_, err := p.Write(big) // more than the buffer: blocks until CloseRead
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	p.CloseRead(errors.New("load failed"))
	select {
	case err := <-done:
		if err == nil || err.Error() != "load failed" {
			t.Errorf("write returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the writer stayed blocked after the reader gave up")
	}
}
