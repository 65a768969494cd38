package noxrunner

/*
#include <stdlib.h>
#include <noxrunner/noxrunner.h>
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"unsafe"
)

// Code is a libnoxrunner return code (NOX_E*). Codes are negative and
// never renumbered; [Code.String] gives the stable name, "NOX_ENOTFOUND".
type Code int

// The codes of noxrunner.h.
const (
	CodeOK          Code = C.NOX_OK
	CodeInvalid     Code = C.NOX_EINVAL       // bad argument
	CodeNoMemory    Code = C.NOX_ENOMEM       // out of memory
	CodeNotFound    Code = C.NOX_ENOTFOUND    // no such sandbox or path (HTTP 404)
	CodeHTTP        Code = C.NOX_EHTTP        // other non-2xx answer
	CodeConnect     Code = C.NOX_ECONNECT     // server or sandbox agent unreachable
	CodeTimeout     Code = C.NOX_ETIMEOUT     // a client-side deadline passed
	CodeProtocol    Code = C.NOX_EPROTOCOL    // the peer answered something unparseable
	CodeArchive     Code = C.NOX_EARCHIVE     // archive rejected
	CodeIO          Code = C.NOX_EIO          // local I/O failed
	CodeAuth        Code = C.NOX_EAUTH        // authentication failed (HTTP 401/403)
	CodeCanceled    Code = C.NOX_ECANCELED    // canceled
	CodeUnsupported Code = C.NOX_EUNSUPPORTED // the backend or host cannot do this
	CodeVersion     Code = C.NOX_EVERSION     // options version or ABI not understood
	CodeSandbox     Code = C.NOX_ESANDBOX     // the sandbox could not be set up, or died
	CodeNotReady    Code = C.NOX_ENOTREADY    // sandbox exists but is not ready (HTTP 503)
	CodeTooBig      Code = C.NOX_ETOOBIG      // a size or count limit was exceeded
)

// String returns the stable name of c, "NOX_ENOTFOUND", or "NOX_EUNKNOWN".
func (c Code) String() string {
	return C.GoString(C.nox_code_name(C.int(c)))
}

// Description returns a short English description of c.
func (c Code) Description() string {
	return C.GoString(C.nox_code_description(C.int(c)))
}

// Error is an error reported by libnoxrunner, or by this package in the
// same terms (a cancelled context, a closed client).
type Error struct {
	// Code says what kind of failure this is; compare with errors.Is and
	// the Err* sentinels rather than with the field directly.
	Code Code
	// Message says what failed and on what, e.g.
	// `exec on session "s1": sandbox not found`.
	Message string
	// HTTPStatus is the status of the server answer that caused the
	// error, 0 when there was none.
	HTTPStatus int
	// Body is that answer's body, nil when there was none.
	Body []byte

	cause error // context error or ErrClosed, for errors.Is
}

// Error implements the error interface: "noxrunner: <message> (<code>)".
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Code.Description()
	}
	return fmt.Sprintf("noxrunner: %s (%s)", msg, e.Code)
}

// Is reports whether target is an *Error with the same Code, so
// errors.Is(err, ErrNotFound) works for every not-found error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Unwrap returns the underlying cause: context.Canceled or
// context.DeadlineExceeded for a cancelled call, ErrClosed for a call on a
// closed client, nil otherwise.
func (e *Error) Unwrap() error { return e.cause }

// Sentinels for errors.Is. Each matches every *Error with its Code.
var (
	ErrInvalid     = &Error{Code: CodeInvalid, Message: "invalid argument"}
	ErrNoMemory    = &Error{Code: CodeNoMemory, Message: "out of memory"}
	ErrNotFound    = &Error{Code: CodeNotFound, Message: "not found"}
	ErrHTTP        = &Error{Code: CodeHTTP, Message: "HTTP error"}
	ErrConnect     = &Error{Code: CodeConnect, Message: "cannot connect"}
	ErrTimeout     = &Error{Code: CodeTimeout, Message: "timed out"}
	ErrProtocol    = &Error{Code: CodeProtocol, Message: "protocol error"}
	ErrArchive     = &Error{Code: CodeArchive, Message: "archive rejected"}
	ErrIO          = &Error{Code: CodeIO, Message: "I/O error"}
	ErrAuth        = &Error{Code: CodeAuth, Message: "authentication failed"}
	ErrCanceled    = &Error{Code: CodeCanceled, Message: "canceled"}
	ErrUnsupported = &Error{Code: CodeUnsupported, Message: "unsupported"}
	ErrVersion     = &Error{Code: CodeVersion, Message: "version mismatch"}
	ErrSandbox     = &Error{Code: CodeSandbox, Message: "sandbox failed"}
	ErrNotReady    = &Error{Code: CodeNotReady, Message: "sandbox not ready"}
	ErrTooBig      = &Error{Code: CodeTooBig, Message: "limit exceeded"}
)

// ErrClosed is matched (errors.Is) by the error of any call on a closed
// Client or stream. That error is also an *Error with CodeInvalid.
var ErrClosed = errors.New("noxrunner: use of closed handle")

// errClosed builds the error for a call on a closed handle.
func errClosed(what string) error {
	return &Error{Code: CodeInvalid, Message: what + ": " + "handle is closed", cause: ErrClosed}
}

// ctxError turns a done context into an *Error: CodeTimeout for a passed
// deadline (a client-side deadline, as NOX_ETIMEOUT means), CodeCanceled
// otherwise. Both unwrap to the context's error.
func ctxError(ctx context.Context, what string) error {
	cerr := ctx.Err()
	if cerr == nil {
		return nil
	}
	code := CodeCanceled
	if errors.Is(cerr, context.DeadlineExceeded) {
		code = CodeTimeout
	}
	return &Error{Code: code, Message: what + ": " + cerr.Error(), cause: cerr}
}

// takeError converts a return code and an optional C error into a Go
// error, freeing the C error. It returns nil for rc == 0.
func takeError(rc C.int, cerr *C.nox_error) error {
	if cerr != nil {
		defer C.nox_error_free(cerr)
	}
	if rc == 0 {
		return nil
	}
	e := &Error{Code: Code(rc)}
	if cerr == nil {
		e.Message = e.Code.Description()
		return e
	}
	if c := Code(C.nox_error_code(cerr)); c != 0 {
		e.Code = c
	}
	e.Message = C.GoString(C.nox_error_message(cerr))
	e.HTTPStatus = int(C.nox_error_http_status(cerr))
	var n C.size_t
	if p := C.nox_error_body(cerr, &n); p != nil && n > 0 {
		e.Body = goBytes(unsafe.Pointer(p), n)
	}
	return e
}
