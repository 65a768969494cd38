package noxrunner

/*
#include <stdlib.h>
#include <noxrunner/noxrunner.h>
*/
import "C"

import (
	"context"
	"errors"
	"iter"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// EventKind says what an Event carries.
type EventKind int

// Event kinds.
const (
	EventStdout EventKind = C.NOX_EVENT_STDOUT // a chunk of standard output
	EventStderr EventKind = C.NOX_EVENT_STDERR // a chunk of standard error
	EventExit   EventKind = C.NOX_EVENT_EXIT   // the command ended; Result is set
)

// String returns "stdout", "stderr" or "exit".
func (k EventKind) String() string {
	switch k {
	case EventStdout:
		return "stdout"
	case EventStderr:
		return "stderr"
	case EventExit:
		return "exit"
	}
	return "unknown"
}

// Event is one step of a streaming exec.
type Event struct {
	// Kind says which of the other fields is set.
	Kind EventKind
	// Data is the chunk for EventStdout and EventStderr (owned by the
	// caller).
	Data []byte
	// Result is set for EventExit. Its Stdout and Stderr are empty: the
	// output went out as chunks.
	Result *ExecResult
}

// pollMs bounds one wait inside the C library while a context can still
// end it, so cancellation is noticed within this many milliseconds even if
// a backend did not wake up on nox_exec_cancel.
const pollMs = 50

// Stream is a running command whose output arrives as events. Next must
// not be called from two goroutines at once; Cancel and Close may be
// called from any goroutine at any time.
type Stream struct {
	// mu is held shared by every C call on ptr and exclusively to free it.
	mu      sync.RWMutex
	nextMu  sync.Mutex // one Next at a time
	ptr     *C.nox_exec_stream
	cleanup runtime.Cleanup
	stop    func() bool // unregisters the context's AfterFunc

	ctx    context.Context
	result atomic.Pointer[ExecResult] // once the exit event arrived
}

func newStream(ctx context.Context, ptr *C.nox_exec_stream) *Stream {
	s := &Stream{ptr: ptr, ctx: ctx}
	s.cleanup = runtime.AddCleanup(s, func(p *C.nox_exec_stream) { C.nox_exec_stream_free(p) }, ptr)
	// Cancel the command the moment ctx ends, even while Next is blocked
	// inside C (nox_exec_cancel is safe from any thread).
	s.stop = context.AfterFunc(ctx, s.Cancel)
	return s
}

// Cancel kills the command and everything it started; Next then returns
// an error matching ErrCanceled. It is idempotent, and a no-op after
// Close or after the command ended.
func (s *Stream) Cancel() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ptr != nil {
		C.nox_exec_cancel(s.ptr)
	}
	runtime.KeepAlive(s)
}

// Close frees the stream, killing the command if it still runs. It is
// idempotent.
func (s *Stream) Close() error {
	s.Cancel() // wakes a Next blocked in C so the lock below is granted
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr == nil {
		return nil
	}
	s.stop()
	s.cleanup.Stop()
	C.nox_exec_stream_free(s.ptr)
	s.ptr = nil
	return nil
}

func (s *Stream) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ptr == nil
}

// Result returns the command's result once Next reported EventExit, nil
// before.
func (s *Stream) Result() *ExecResult { return s.result.Load() }

// Next waits for the next event. After EventExit it keeps returning
// EventExit. If ctx (the one passed here) ends first, Next returns its
// error and the command keeps running; if the context given to StartExec
// ends, or Cancel was called, the command is killed and Next returns an
// error matching ErrCanceled (ErrTimeout for a passed deadline).
func (s *Stream) Next(ctx context.Context) (Event, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	s.nextMu.Lock()
	defer s.nextMu.Unlock()
	if s.isClosed() {
		return Event{}, errClosed("exec_next")
	}
	if r := s.result.Load(); r != nil {
		return Event{Kind: EventExit, Result: r}, nil
	}
	wait := C.int32_t(-1)
	if ctx.Done() != nil || s.ctx.Done() != nil {
		wait = pollMs
	}
	for {
		if err := ctxError(ctx, "exec_next"); err != nil {
			return Event{}, err
		}
		ev, got, err := s.next1(wait)
		if err != nil {
			// A cancel caused by the StartExec context reports that
			// context's error, so errors.Is(err, context.Canceled) holds.
			var ne *Error
			if errors.As(err, &ne) && ne.Code == CodeCanceled && s.ctx.Err() != nil {
				return Event{}, ctxError(s.ctx, "exec")
			}
			return Event{}, err
		}
		if got {
			return ev, nil
		}
	}
}

// next1 makes one nox_exec_next call; got is false when nothing arrived
// in time.
func (s *Stream) next1(wait C.int32_t) (Event, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	defer runtime.KeepAlive(s) // the chunk below lives in the C stream
	if s.ptr == nil {
		return Event{}, false, errClosed("exec_next")
	}
	var kind C.int
	var data *C.uint8_t
	var n C.size_t
	var cerr *C.nox_error
	rc := C.nox_exec_next(s.ptr, wait, &kind, &data, &n, &cerr)
	if err := takeError(rc, cerr); err != nil {
		return Event{}, false, err
	}
	var ev Event
	switch kind {
	case C.NOX_EVENT_NONE:
		return Event{}, false, nil
	case C.NOX_EVENT_STDOUT, C.NOX_EVENT_STDERR:
		// The chunk lives only until the next call on the stream: copy.
		ev = Event{Kind: EventKind(kind), Data: goBytes(unsafe.Pointer(data), n)}
	case C.NOX_EVENT_EXIT:
		r := C.nox_exec_stream_result(s.ptr)
		if r == nil {
			return Event{}, false, &Error{Code: CodeProtocol, Message: "exec_next: exit event without a result"}
		}
		res := copyResult(r)
		res.Stdout, res.Stderr = []byte{}, []byte{}
		s.result.Store(res)
		ev = Event{Kind: EventExit, Result: res}
	default:
		return Event{}, false, &Error{Code: CodeProtocol, Message: "exec_next: unknown event kind"}
	}
	return ev, true, nil
}

// Events returns an iterator over the stream's events, ending after
// EventExit or the first error. Breaking out of the loop closes the
// stream, which kills the command if it still runs; so does the end of
// the loop.
func (s *Stream) Events(ctx context.Context) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		defer s.Close()
		for {
			ev, err := s.Next(ctx)
			if !yield(ev, err) || err != nil || ev.Kind == EventExit {
				return
			}
		}
	}
}

// ExecStream starts cmd and returns an iterator over its output events:
//
//	for ev, err := range c.ExecStream(ctx, id, []string{"make"}, nil) {
//		if err != nil { ... }
//		switch ev.Kind { ... }
//	}
//
// A failure to start is reported as the iterator's only element.
// Cancelling ctx kills the command.
func (c *Client) ExecStream(ctx context.Context, sessionID string, cmd []string, opts *ExecOptions) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		s, err := c.StartExec(ctx, sessionID, cmd, opts)
		if err != nil {
			yield(Event{}, err)
			return
		}
		s.Events(ctx)(yield)
	}
}
