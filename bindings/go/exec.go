package noxrunner

/*
#include <stdlib.h>
#include <noxrunner/noxrunner.h>
*/
import "C"

import (
	"context"
	"runtime"
	"sort"
	"time"
	"unsafe"
)

// ExecResult is the outcome of a command that ran to the end (or was
// killed by its timeout: that is a result too, not an error).
type ExecResult struct {
	// ExitCode is 0..255; 128+n when killed by signal n; 124 on timeout.
	ExitCode int
	// Stdout and Stderr are the output bytes, exactly as produced (they
	// may hold NUL bytes or invalid UTF-8), capped by MaxOutput.
	Stdout, Stderr []byte
	// Duration is how long the command ran, as the backend measured it.
	Duration time.Duration
	// TimedOut is set when the command ran past its timeout and was killed.
	TimedOut bool
	// StdoutTruncated and StderrTruncated are set when output was cut at
	// the cap.
	StdoutTruncated, StderrTruncated bool
	// Signal is the signal that killed the command, 0 when it exited.
	Signal int
}

// copyResult copies the scalar fields of a C result (not the output).
func copyResult(r *C.nox_exec_result) *ExecResult {
	return &ExecResult{
		ExitCode:        int(C.nox_exec_result_exit_code(r)),
		Signal:          int(C.nox_exec_result_signal(r)),
		Duration:        time.Duration(C.nox_exec_result_duration_ms(r)) * time.Millisecond,
		TimedOut:        C.nox_exec_result_timed_out(r) != 0,
		StdoutTruncated: C.nox_exec_result_stdout_truncated(r) != 0,
		StderrTruncated: C.nox_exec_result_stderr_truncated(r) != 0,
	}
}

// execOpts fills a nox_exec_options from opts, allocating through a.
func execOpts(o *C.nox_exec_options, opts *ExecOptions, a *cstrs) error {
	if rc := C.nox_exec_options_init(o, C.NOX_EXEC_OPTIONS_VERSION); rc != 0 {
		return takeError(rc, nil)
	}
	if opts == nil {
		return nil
	}
	o.workdir = a.opt(opts.Workdir)
	if len(opts.Env) > 0 {
		keys := make([]string, 0, len(opts.Env))
		for k := range opts.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys) // the same command line every time
		kv := make([]string, len(keys))
		for i, k := range keys {
			kv[i] = k + "=" + opts.Env[k]
		}
		o.env = a.strv(kv)
	}
	o.timeout_seconds = seconds(opts.Timeout)
	if len(opts.Stdin) > 0 {
		o.stdin_data = a.bytes(opts.Stdin)
		o.stdin_len = C.size_t(len(opts.Stdin))
	}
	o.max_output_bytes = C.uint64_t(opts.MaxOutput)
	return nil
}

// Exec runs cmd (an argument vector, never through a shell) in the
// sandbox and waits for it. Cancelling ctx kills the command and
// everything it started, and Exec returns promptly with an error matching
// ErrCanceled (or ErrTimeout for a passed deadline) that also matches
// ctx.Err(). A command killed by its own timeout is not an error: the
// result has TimedOut set. opts may be nil.
func (c *Client) Exec(ctx context.Context, sessionID string, cmd []string, opts *ExecOptions) (*ExecResult, error) {
	if ctx == nil || ctx.Done() == nil {
		// A context that can never be done has nothing to watch: one
		// blocking C call instead of a stream polled through cgo.
		return c.execBlocking(ctx, sessionID, cmd, opts)
	}
	s, err := c.StartExec(ctx, sessionID, cmd, opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	// The core caps each stream (opts.MaxOutput, else the client's cap,
	// else its default) and reports the cut in the exit result.
	var out, errb []byte
	for {
		ev, err := s.Next(ctx)
		if err != nil {
			return nil, err
		}
		switch ev.Kind {
		case EventStdout:
			out = append(out, ev.Data...)
		case EventStderr:
			errb = append(errb, ev.Data...)
		case EventExit:
			r := *ev.Result
			r.Stdout, r.Stderr = nonNil(out), nonNil(errb)
			return &r, nil
		}
	}
}

// prepareExec converts an exec's arguments to C, allocating through a
// and filling o (which must not live inside a Go object holding Go
// pointers: cgo checks what a passed pointer points into).
func prepareExec(a *cstrs, o *C.nox_exec_options, sessionID string, cmd []string,
	opts *ExecOptions) (*C.char, **C.char, error) {
	sid := a.str(sessionID)
	var argv **C.char
	if cmd != nil {
		argv = a.strv(cmd)
	}
	if err := execOpts(o, opts, a); err != nil {
		return nil, nil, err
	}
	return sid, argv, a.err
}

type execFn func(p *C.nox_client, sid *C.char, argv **C.char,
	o *C.nox_exec_options, cerr **C.nox_error) C.int

// callExec converts an exec's arguments, holds the client open and calls
// fn (nox_exec or nox_exec_start) with them.
func (c *Client) callExec(ctx context.Context, sessionID string, cmd []string,
	opts *ExecOptions, fn execFn) error {
	p, release, err := c.acquire(ctx, "exec")
	if err != nil {
		return err
	}
	defer release()
	var a cstrs
	defer a.free()
	var o C.nox_exec_options
	sid, argv, err := prepareExec(&a, &o, sessionID, cmd, opts)
	if err != nil {
		return err
	}
	var cerr *C.nox_error
	rc := fn(p, sid, argv, &o, &cerr)
	runtime.KeepAlive(c)
	return takeError(rc, cerr)
}

// execBlocking is Exec through nox_exec, for contexts that cannot end.
func (c *Client) execBlocking(ctx context.Context, sessionID string, cmd []string, opts *ExecOptions) (*ExecResult, error) {
	var r *C.nox_exec_result
	err := c.callExec(ctx, sessionID, cmd, opts, func(p *C.nox_client, sid *C.char,
		argv **C.char, o *C.nox_exec_options, cerr **C.nox_error) C.int {
		return C.nox_exec(p, sid, argv, o, &r, cerr)
	})
	if err != nil {
		return nil, err
	}
	defer C.nox_exec_result_free(r)
	res := copyResult(r)
	var n C.size_t
	out := C.nox_exec_result_stdout(r, &n)
	res.Stdout = nonNil(goBytes(unsafe.Pointer(out), n))
	errp := C.nox_exec_result_stderr(r, &n)
	res.Stderr = nonNil(goBytes(unsafe.Pointer(errp), n))
	return res, nil
}

// ExecShell runs command through "sh -c", so shell syntax works and the
// variables of opts.Env expand. Otherwise it is Exec.
func (c *Client) ExecShell(ctx context.Context, sessionID, command string, opts *ExecOptions) (*ExecResult, error) {
	return c.Exec(ctx, sessionID, []string{"sh", "-c", command}, opts)
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// StartExec starts cmd in the sandbox and returns a stream of its output.
// ctx governs the command: once ctx is done the command is killed (Next
// then reports the context's error). Read events with Next or Events, and
// Close the stream when done (closing kills a command still running).
// opts may be nil.
func (c *Client) StartExec(ctx context.Context, sessionID string, cmd []string, opts *ExecOptions) (*Stream, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	var ptr *C.nox_exec_stream
	err := c.callExec(ctx, sessionID, cmd, opts, func(p *C.nox_client, sid *C.char,
		argv **C.char, o *C.nox_exec_options, cerr **C.nox_error) C.int {
		return C.nox_exec_start(p, sid, argv, o, &ptr, cerr)
	})
	if err != nil {
		C.nox_exec_stream_free(ptr)
		return nil, err
	}
	return newStream(ctx, ptr), nil
}
