package noxrunner

/*
#include <stdlib.h>
#include <noxrunner/noxrunner.h>
*/
import "C"

import (
	"context"
	"encoding/json"
	"runtime"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// Version returns the version of the loaded libnoxrunner, "0.3.0".
func Version() string { return C.GoString(C.nox_version_string()) }

// ABIVersion returns the ABI version of the loaded libnoxrunner. New
// refuses a library whose ABI differs from the one this package was built
// for.
func ABIVersion() int { return int(C.nox_abi_version()) }

// Client is a handle on one backend. It is safe for concurrent use by many
// goroutines. Close it when done.
type Client struct {
	// mu is held shared by every call that uses ptr and exclusively by
	// Close: the C client must not be freed while a call is inside it.
	mu      sync.RWMutex
	ptr     *C.nox_client
	cleanup runtime.Cleanup

	backend Backend
}

// New creates a client. Nothing is contacted yet: the HTTP backend only
// validates the URL, the local backend creates its base directory. With no
// option, the client uses the local backend and its default directory.
func New(opts ...Option) (*Client, error) {
	cfg := config{backend: BackendLocal, tlsVerify: true}
	for _, o := range opts {
		o(&cfg)
	}
	if got := ABIVersion(); got != C.NOX_ABI_VERSION {
		return nil, &Error{Code: CodeVersion, Message: "libnoxrunner has ABI " +
			strconv.Itoa(got) + ", this package was built for " + strconv.Itoa(C.NOX_ABI_VERSION)}
	}

	var co C.nox_client_options
	if rc := C.nox_client_options_init(&co, C.NOX_CLIENT_OPTIONS_VERSION); rc != 0 {
		return nil, takeError(rc, nil)
	}
	var a cstrs
	defer a.free()
	co.backend = C.int32_t(cfg.backend)
	co.base_url = a.opt(cfg.baseURL)
	co.api_key = a.opt(cfg.apiKey)
	co.connect_timeout_ms = ms(cfg.connectTimeout)
	co.request_timeout_ms = ms(cfg.requestTimeout)
	co.transfer_timeout_ms = ms(cfg.transferTimeout)
	if cfg.maxRetriesSet {
		co.max_retries = C.int32_t(cfg.maxRetries)
	}
	if !cfg.tlsVerify {
		co.tls_verify = 0
	}
	co.ca_file = a.opt(cfg.caFile)
	co.user_agent = a.opt(cfg.userAgent)
	co.base_dir = a.opt(cfg.baseDir)
	co.isolation = C.int32_t(cfg.isolation)
	co.agent_path = a.opt(cfg.agentPath)
	co.max_output_bytes = C.uint64_t(cfg.maxOutput)
	co.max_archive_bytes = C.uint64_t(cfg.maxArchiveBytes)
	co.max_archive_entries = C.uint64_t(cfg.maxArchiveCount)
	if a.err != nil {
		return nil, a.err
	}

	var ptr *C.nox_client
	var cerr *C.nox_error
	if rc := C.nox_client_new(&ptr, &co, &cerr); rc != 0 {
		C.nox_client_free(ptr)
		return nil, takeError(rc, cerr)
	}
	c := &Client{ptr: ptr, backend: cfg.backend}
	// The safety net for a client nobody closed; Close stops it.
	c.cleanup = runtime.AddCleanup(c, func(p *C.nox_client) { C.nox_client_free(p) }, ptr)
	return c, nil
}

// Close frees the C client. It waits for calls in progress on other
// goroutines to return, and is safe to call more than once; calls after
// Close return an error matching ErrClosed. Streams and Sandbox values
// made by the client stay usable only as far as they do not need the
// client: streams keep working, Sandbox methods report ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil {
		return nil
	}
	c.cleanup.Stop()
	C.nox_client_free(c.ptr)
	c.ptr = nil
	return nil
}

// acquire checks ctx and the client, and holds the client open until the
// returned release is called.
func (c *Client) acquire(ctx context.Context, op string) (*C.nox_client, func(), error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctxError(ctx, op); err != nil {
		return nil, nil, err
	}
	if c == nil {
		return nil, nil, errClosed(op)
	}
	c.mu.RLock()
	if c.ptr == nil {
		c.mu.RUnlock()
		return nil, nil, errClosed(op)
	}
	return c.ptr, c.mu.RUnlock, nil
}

// Backend returns the kind of backend the client talks to.
func (c *Client) Backend() Backend { return c.backend }

// Isolation returns the isolation level in force: for the local backend
// the resolved level (never IsolationAuto); for the HTTP backend the
// server's, or IsolationAuto when it is unknown.
func (c *Client) Isolation(ctx context.Context) (Isolation, error) {
	p, release, err := c.acquire(ctx, "isolation")
	if err != nil {
		return IsolationAuto, err
	}
	defer release()
	lvl := C.nox_client_isolation(p)
	runtime.KeepAlive(c)
	return Isolation(lvl), nil
}

// Health returns nil when the backend is healthy.
func (c *Client) Health(ctx context.Context) error {
	p, release, err := c.acquire(ctx, "health")
	if err != nil {
		return err
	}
	defer release()
	var cerr *C.nox_error
	rc := C.nox_health(p, &cerr)
	runtime.KeepAlive(c)
	return takeError(rc, cerr)
}

// BackendInfo describes a backend, as GET /v1/info does for a server.
type BackendInfo struct {
	Name       string          // backend or server name
	Version    string          // its version
	Extensions []string        // Part-B extensions it supports (HTTP)
	Isolation  string          // isolation level name: "none", "namespaces", ...
	Raw        json.RawMessage // the whole JSON object
}

// Info describes the backend. An HTTP server without the introspection
// extension gives an error matching ErrUnsupported.
func (c *Client) Info(ctx context.Context) (*BackendInfo, error) {
	p, release, err := c.acquire(ctx, "info")
	if err != nil {
		return nil, err
	}
	defer release()
	var out *C.nox_bytes
	var cerr *C.nox_error
	rc := C.nox_info(p, &out, &cerr)
	runtime.KeepAlive(c)
	if err := takeError(rc, cerr); err != nil {
		return nil, err
	}
	raw := takeBytes(out)
	info := &BackendInfo{Raw: json.RawMessage(raw)}
	// A field of an unexpected shape is left empty; Raw keeps everything.
	var loose map[string]json.RawMessage
	if err := json.Unmarshal(raw, &loose); err != nil {
		return nil, &Error{Code: CodeProtocol, Message: "info: backend description is not a JSON object: " + err.Error()}
	}
	_ = json.Unmarshal(loose["name"], &info.Name)
	_ = json.Unmarshal(loose["version"], &info.Version)
	_ = json.Unmarshal(loose["extensions"], &info.Extensions)
	_ = json.Unmarshal(loose["isolation"], &info.Isolation)
	return info, nil
}

// takeBytes copies a nox_bytes into Go memory and frees it.
func takeBytes(b *C.nox_bytes) []byte {
	if b == nil {
		return []byte{}
	}
	defer C.nox_bytes_free(b)
	var n C.size_t
	p := C.nox_bytes_data(b, &n)
	return goBytes(unsafe.Pointer(p), n)
}

// SandboxInfo describes a live sandbox.
type SandboxInfo struct {
	SessionID string    // the session id it belongs to
	PodName   string    // the backend's name for it, never empty
	ExpiresAt time.Time // UTC; moved forward by Touch and by create
}

// copyInfo copies a sandbox info into Go memory; it does not free it.
func copyInfo(i *C.nox_sandbox_info) SandboxInfo {
	si := SandboxInfo{
		SessionID: C.GoString(C.nox_sandbox_info_session_id(i)),
		PodName:   C.GoString(C.nox_sandbox_info_pod_name(i)),
	}
	iso := C.GoString(C.nox_sandbox_info_expires_at(i))
	if t, err := time.Parse(time.RFC3339Nano, iso); err == nil {
		si.ExpiresAt = t.UTC()
	} else {
		si.ExpiresAt = time.Unix(int64(C.nox_sandbox_info_expires_at_unix(i)), 0).UTC()
	}
	return si
}

// CreateSandbox creates the sandbox for sessionID, or returns the live one
// (refreshing its TTL). opts may be nil. See also Client.Sandbox, which
// returns a value that deletes the sandbox when closed.
func (c *Client) CreateSandbox(ctx context.Context, sessionID string, opts *SandboxOptions) (SandboxInfo, error) {
	p, release, err := c.acquire(ctx, "create")
	if err != nil {
		return SandboxInfo{}, err
	}
	defer release()
	var so C.nox_sandbox_options
	if rc := C.nox_sandbox_options_init(&so, C.NOX_SANDBOX_OPTIONS_VERSION); rc != 0 {
		return SandboxInfo{}, takeError(rc, nil)
	}
	var a cstrs
	defer a.free()
	sid := a.str(sessionID)
	if opts != nil {
		so.ttl_seconds = seconds(opts.TTL)
		so.image = a.opt(opts.Image)
		so.cpu_limit = a.opt(opts.CPULimit)
		so.memory_limit = a.opt(opts.MemoryLimit)
		so.ephemeral_storage_limit = a.opt(opts.EphemeralStorageLimit)
	}
	if a.err != nil {
		return SandboxInfo{}, a.err
	}
	var out *C.nox_sandbox_info
	var cerr *C.nox_error
	rc := C.nox_sandbox_create(p, sid, &so, &out, &cerr)
	runtime.KeepAlive(c)
	if err := takeError(rc, cerr); err != nil {
		C.nox_sandbox_info_free(out)
		return SandboxInfo{}, err
	}
	defer C.nox_sandbox_info_free(out)
	return copyInfo(out), nil
}

// GetSandbox looks one sandbox up; ErrNotFound when there is none. The
// HTTP backend needs the server's introspection extension.
func (c *Client) GetSandbox(ctx context.Context, sessionID string) (SandboxInfo, error) {
	p, release, err := c.acquire(ctx, "get")
	if err != nil {
		return SandboxInfo{}, err
	}
	defer release()
	var a cstrs
	defer a.free()
	sid := a.str(sessionID)
	if a.err != nil {
		return SandboxInfo{}, a.err
	}
	var out *C.nox_sandbox_info
	var cerr *C.nox_error
	rc := C.nox_sandbox_get(p, sid, &out, &cerr)
	runtime.KeepAlive(c)
	if err := takeError(rc, cerr); err != nil {
		C.nox_sandbox_info_free(out)
		return SandboxInfo{}, err
	}
	defer C.nox_sandbox_info_free(out)
	return copyInfo(out), nil
}

// ListSandboxes returns the live sandboxes. The HTTP backend needs the
// server's introspection extension.
func (c *Client) ListSandboxes(ctx context.Context) ([]SandboxInfo, error) {
	p, release, err := c.acquire(ctx, "list")
	if err != nil {
		return nil, err
	}
	defer release()
	var out *C.nox_sandbox_list
	var cerr *C.nox_error
	rc := C.nox_sandbox_list_all(p, &out, &cerr)
	runtime.KeepAlive(c)
	if err := takeError(rc, cerr); err != nil {
		C.nox_sandbox_list_free(out)
		return nil, err
	}
	defer C.nox_sandbox_list_free(out)
	n := int(C.nox_sandbox_list_count(out))
	list := make([]SandboxInfo, 0, n)
	for i := 0; i < n; i++ {
		if it := C.nox_sandbox_list_at(out, C.size_t(i)); it != nil {
			list = append(list, copyInfo(it))
		}
	}
	return list, nil
}

// sessionCall runs one C call that takes the client and a session id.
func (c *Client) sessionCall(ctx context.Context, op, sessionID string,
	call func(p *C.nox_client, sid *C.char, cerr **C.nox_error) C.int) error {
	p, release, err := c.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer release()
	var a cstrs
	defer a.free()
	sid := a.str(sessionID)
	if a.err != nil {
		return a.err
	}
	var cerr *C.nox_error
	rc := call(p, sid, &cerr)
	runtime.KeepAlive(c)
	return takeError(rc, cerr)
}

// Touch extends the sandbox's TTL: it then expires TTL from now.
func (c *Client) Touch(ctx context.Context, sessionID string) error {
	return c.sessionCall(ctx, "touch", sessionID, func(p *C.nox_client, sid *C.char, cerr **C.nox_error) C.int {
		return C.nox_sandbox_touch(p, sid, cerr)
	})
}

// Delete kills everything in the sandbox and removes it; ErrNotFound when
// there is no such sandbox.
func (c *Client) Delete(ctx context.Context, sessionID string) error {
	return c.sessionCall(ctx, "delete", sessionID, func(p *C.nox_client, sid *C.char, cerr **C.nox_error) C.int {
		return C.nox_sandbox_delete(p, sid, cerr)
	})
}

// WaitReady blocks until the sandbox answers an exec or timeout passes
// (ErrTimeout). A context deadline sooner than timeout shortens the wait;
// timeout <= 0 means the context's deadline, else 60 s.
func (c *Client) WaitReady(ctx context.Context, sessionID string, timeout time.Duration) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); timeout <= 0 || left < timeout {
			timeout = left
		}
		if timeout <= 0 {
			return ctxError(ctx, "wait_ready")
		}
	}
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	err := c.sessionCall(ctx, "wait_ready", sessionID, func(p *C.nox_client, sid *C.char, cerr **C.nox_error) C.int {
		return C.nox_sandbox_wait_ready(p, sid, ms(timeout), cerr)
	})
	if err != nil && ctx.Err() != nil {
		return ctxError(ctx, "wait_ready")
	}
	return err
}
