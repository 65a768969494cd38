package noxrunner

/*
#include <noxrunner/noxrunner.h>
*/
import "C"

import (
	"time"
)

// Backend says which kind of backend a client talks to.
type Backend int

// Backends.
const (
	BackendLocal Backend = C.NOX_BACKEND_LOCAL // sandboxes on this machine
	BackendHTTP  Backend = C.NOX_BACKEND_HTTP  // a NoxRunner-compatible server
)

// String returns "local" or "http".
func (b Backend) String() string {
	switch b {
	case BackendLocal:
		return "local"
	case BackendHTTP:
		return "http"
	}
	return "unknown"
}

// Isolation is the local sandbox's isolation level.
type Isolation int

// Isolation levels.
const (
	// IsolationAuto asks for the strongest level the host allows.
	IsolationAuto Isolation = C.NOX_ISOLATION_AUTO
	// IsolationNone runs commands in the workspace with a clean
	// environment, but with the host's view of the system.
	IsolationNone Isolation = C.NOX_ISOLATION_NONE
	// IsolationNamespaces is the full namespace sandbox; asking for it on
	// a host that cannot do it is an error, never a silent downgrade.
	IsolationNamespaces Isolation = C.NOX_ISOLATION_NAMESPACES
)

// String returns the stable name: "auto", "none", "namespaces".
func (i Isolation) String() string {
	return C.GoString(C.nox_isolation_name(C.int(i)))
}

// config collects what the Options set; New turns it into
// nox_client_options.
type config struct {
	backend         Backend
	baseURL         string
	apiKey          string
	connectTimeout  time.Duration
	requestTimeout  time.Duration
	transferTimeout time.Duration
	maxRetries      int
	maxRetriesSet   bool
	tlsVerify       bool
	caFile          string
	userAgent       string
	baseDir         string
	isolation       Isolation
	agentPath       string
	maxOutput       uint64
	maxArchiveBytes uint64
	maxArchiveCount uint64
}

// Option configures a Client in New.
type Option func(*config)

// WithLocal selects the local backend with its state under baseDir. An
// empty baseDir means $NOXRUNNER_HOME, else a per-user directory under
// the temporary directory. The local backend is the default.
func WithLocal(baseDir string) Option {
	return func(c *config) { c.backend = BackendLocal; c.baseDir = baseDir }
}

// WithHTTP selects the HTTP backend talking to the server at baseURL,
// e.g. "http://127.0.0.1:8080".
func WithHTTP(baseURL string) Option {
	return func(c *config) { c.backend = BackendHTTP; c.baseURL = baseURL }
}

// WithAPIKey sets the bearer token sent to an HTTP server. Without it the
// core uses $NOXRUNNER_API_KEY when set.
func WithAPIKey(key string) Option {
	return func(c *config) { c.apiKey = key }
}

// WithAgentPath sets the path of the nox-sandbox agent program the local
// backend starts. Without it the core uses $NOXRUNNER_AGENT, else the
// installed agent.
func WithAgentPath(path string) Option {
	return func(c *config) { c.agentPath = path }
}

// WithIsolation sets the local backend's isolation level (default
// IsolationAuto).
func WithIsolation(level Isolation) Option {
	return func(c *config) { c.isolation = level }
}

// WithTimeouts sets the HTTP backend's connect timeout and its whole
// request timeout (exec time excluded). Zero keeps the core's default
// (10 s and 60 s). They are what bounds a call that a context cannot
// interrupt.
func WithTimeouts(connect, request time.Duration) Option {
	return func(c *config) { c.connectTimeout = connect; c.requestTimeout = request }
}

// WithTransferTimeout sets the HTTP backend's deadline for a whole upload
// or download (Upload*, Download*), whether or not bytes keep moving; the
// request timeout of WithTimeouts still limits how long no byte may move
// during one. Past it the call fails with an error matching ErrTimeout that
// names transfer_timeout_ms. Zero keeps the core's default (1 h). Needs
// libnoxrunner 0.3.0.
func WithTransferTimeout(d time.Duration) Option {
	return func(c *config) { c.transferTimeout = d }
}

// WithMaxRetries sets how often the HTTP backend retries calls that are
// safe to repeat (default 2; 0 disables retries).
func WithMaxRetries(n int) Option {
	return func(c *config) { c.maxRetries = n; c.maxRetriesSet = true }
}

// WithInsecureSkipVerify disables TLS peer verification. For tests only.
func WithInsecureSkipVerify() Option {
	return func(c *config) { c.tlsVerify = false }
}

// WithCAFile sets the CA bundle used to verify the server (default: the
// system store).
func WithCAFile(path string) Option {
	return func(c *config) { c.caFile = path }
}

// WithUserAgent sets the HTTP User-Agent (default "noxrunner-c/<version>").
func WithUserAgent(ua string) Option {
	return func(c *config) { c.userAgent = ua }
}

// WithMaxOutput caps each output stream of an exec at n bytes (default
// 1 MiB); ExecOptions.MaxOutput overrides it per call.
func WithMaxOutput(n uint64) Option {
	return func(c *config) { c.maxOutput = n }
}

// WithArchiveLimits caps the extracted size and the entry count of
// archives (defaults 8 GiB and 1000000). Zero keeps a default.
func WithArchiveLimits(maxBytes, maxEntries uint64) Option {
	return func(c *config) { c.maxArchiveBytes = maxBytes; c.maxArchiveCount = maxEntries }
}

// ms converts a duration to whole milliseconds for a uint32 field,
// rounding up so a tiny positive timeout never becomes "default".
func ms(d time.Duration) C.uint32_t {
	if d <= 0 {
		return 0
	}
	m := (d + time.Millisecond - 1) / time.Millisecond
	if m > 0xffffffff {
		m = 0xffffffff
	}
	return C.uint32_t(m)
}

// SandboxOptions configure a sandbox when it is created. The zero value
// (or nil) means the backend's defaults.
type SandboxOptions struct {
	// TTL is the idle lifetime; it is rounded up to whole seconds. Zero
	// means 900 s; up to 30 days are allowed.
	TTL time.Duration
	// Image is the container image (HTTP backends that run pods).
	Image string
	// CPULimit is a CPU quantity, "1" or "500m".
	CPULimit string
	// MemoryLimit is a memory quantity, "512Mi" or "1Gi".
	MemoryLimit string
	// EphemeralStorageLimit is a storage quantity, "2Gi".
	EphemeralStorageLimit string
	// Keep leaves the sandbox alive when the Sandbox value is closed.
	Keep bool
}

// ExecOptions configure one exec. The zero value (or nil) means: run in
// /workspace with a clean environment, empty stdin, a 30 s timeout and the
// client's output cap.
type ExecOptions struct {
	// Workdir is the directory to run in (default /workspace).
	Workdir string
	// Env adds variables to the command's clean environment.
	Env map[string]string
	// Timeout kills the command (and everything it started) once it has
	// run this long; the result then has TimedOut set and exit code 124.
	// It is rounded up to whole seconds; zero means 30 s, and values
	// beyond 24 h (or negative) are refused with ErrInvalid.
	Timeout time.Duration
	// Stdin is fed to the command's standard input, which is then closed.
	Stdin []byte
	// MaxOutput caps each output stream in bytes (zero: the client's cap).
	MaxOutput uint64
}

// seconds rounds d up to whole seconds for an int32 field. Zero stays
// zero ("default"); a negative d stays negative, so the core rejects it
// with ErrInvalid instead of it silently meaning "default".
func seconds(d time.Duration) C.int32_t {
	if d == 0 {
		return 0
	}
	if d < 0 {
		s := d / time.Second
		if s < -(1 << 31) {
			s = -(1 << 31)
		}
		if s == 0 {
			s = -1
		}
		return C.int32_t(s)
	}
	s := (d + time.Second - 1) / time.Second
	if s > 1<<31-1 {
		s = 1<<31 - 1
	}
	return C.int32_t(s)
}
