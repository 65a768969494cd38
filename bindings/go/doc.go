// Package noxrunner runs commands in sandboxes and moves files in and out
// of them, through libnoxrunner, the NoxRunner C core.
//
// One API reaches two backends: a local sandbox on this machine
// ([WithLocal]) and a NoxRunner-compatible server over HTTP ([WithHTTP]).
//
//	c, err := noxrunner.New(noxrunner.WithLocal(dir))
//	if err != nil { ... }
//	defer c.Close()
//	sb, err := c.Sandbox(ctx, "session-1", nil)
//	if err != nil { ... }
//	defer sb.Close() // deletes the sandbox
//	res, err := sb.ExecShell(ctx, "echo hello", nil)
//
// Every call takes a [context.Context]. Cancelling the context of an
// [Client.Exec] (or of a stream's Next) kills the running command in the
// sandbox and everything it started. Other calls check the context before
// they start, and are bounded by the client's own timeouts
// ([WithTimeouts]) while they run: the C core offers no way to interrupt
// them half-way.
//
// Errors returned by the library are *[Error] values. Compare them with
// [errors.Is] against the sentinels ([ErrNotFound], [ErrTimeout], ...) or
// take them apart with [errors.As].
//
// A [Client] may be used from many goroutines at once. [Client.Close]
// frees the C client; it waits for calls in progress, is idempotent, and
// later calls return an error matching [ErrClosed]. A cleanup frees a
// client that was never closed once it is garbage, but closing explicitly
// is the rule.
//
// Linking: by default the package links the shared library found through
// pkg-config (package "noxrunner"); build with -tags noxrunner_static to
// link libnoxrunner.a instead. See README.md.
package noxrunner
