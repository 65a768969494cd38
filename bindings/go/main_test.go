package noxrunner_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	noxrunner "github.com/noxrunner/noxrunner/bindings/go"
	"github.com/noxrunner/noxrunner/bindings/go/internal/noxtest"
)

// serverURL is the noxrunnerd started by TestMain for the HTTP backend.
var serverURL string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	server, agent, err := noxtest.Paths()
	if err != nil {
		fmt.Fprintf(os.Stderr, "noxrunner tests: %v\n(run-tests.sh sets both from a staged install)\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "nox-go-test-server-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	srv, err := noxtest.Start(server, agent, dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "noxrunner tests: %v\n", err)
		return 1
	}
	serverURL = srv.URL
	code := m.Run()
	if err := srv.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "noxrunner tests: noxrunnerd did not stop cleanly: %v\nlog:\n%s", err, srv.Log())
		if code == 0 {
			code = 1
		}
	}
	return code
}

// newClient makes a client on the named backend, closed when t ends.
func newClient(t testing.TB, backend string, opts ...noxrunner.Option) *noxrunner.Client {
	t.Helper()
	return newClientAt(t, backend, t.TempDir(), opts...)
}

// newClientAt is newClient with the local backend's state in dir, so two
// clients can reach the same sandboxes.
func newClientAt(t testing.TB, backend, dir string, opts ...noxrunner.Option) *noxrunner.Client {
	t.Helper()
	switch backend {
	case "local":
		opts = append([]noxrunner.Option{noxrunner.WithLocal(dir),
			noxrunner.WithAgentPath(os.Getenv("NOXRUNNER_AGENT"))}, opts...)
	case "http":
		opts = append([]noxrunner.Option{noxrunner.WithHTTP(serverURL)}, opts...)
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	c, err := noxrunner.New(opts...)
	if err != nil {
		t.Fatalf("New(%s): %v", backend, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// eachBackend runs f as a subtest per backend, in parallel.
func eachBackend(t *testing.T, f func(t *testing.T, c *noxrunner.Client)) {
	eachBackendDir(t, func(t *testing.T, backend, dir string) {
		f(t, newClientAt(t, backend, dir))
	})
}

// eachBackendDir runs f per backend with a state directory that any
// number of local clients can share.
func eachBackendDir(t *testing.T, f func(t *testing.T, backend, dir string)) {
	for _, b := range []string{"local", "http"} {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			f(t, b, t.TempDir())
		})
	}
}

// sessionID is a session id unique to the test.
func sessionID(t testing.TB, suffix string) string {
	name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	return fmt.Sprintf("go-test-%d-%s-%s", os.Getpid(), name, suffix)
}

// newSandbox creates a sandbox deleted when t ends.
func newSandbox(t testing.TB, c *noxrunner.Client, suffix string) *noxrunner.Sandbox {
	t.Helper()
	sb, err := c.Sandbox(ctxT(t), sessionID(t, suffix), nil)
	if err != nil {
		t.Fatalf("Sandbox: %v", err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb
}

// ctxT is a context bounded by a generous per-test deadline.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
