package noxrunner_test

import (
	"errors"
	"testing"
	"time"

	noxrunner "github.com/noxrunner/noxrunner/bindings/go"
	"github.com/noxrunner/noxrunner/bindings/go/internal/noxtest"
)

func TestAuthAndConnectErrors(t *testing.T) {
	server, agent, _ := noxtest.Paths()
	srv, err := noxtest.Start(server, agent, t.TempDir(), "--token", "s3cret", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	ctx := ctxT(t)

	t.Setenv("NOXRUNNER_API_KEY", "") // only the option counts here
	wrong, err := noxrunner.New(noxrunner.WithHTTP(srv.URL), noxrunner.WithAPIKey("wrong"))
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	_, err = wrong.CreateSandbox(ctx, sessionID(t, "s"), nil)
	var ne *noxrunner.Error
	if !errors.Is(err, noxrunner.ErrAuth) || !errors.As(err, &ne) || ne.HTTPStatus != 401 {
		t.Errorf("wrong token: %v, want ErrAuth with HTTP 401", err)
	} else if len(ne.Body) == 0 {
		t.Errorf("the 401 answer's body is missing from the error")
	}

	right := newClientAt(t, "http", "", noxrunner.WithHTTP(srv.URL), noxrunner.WithAPIKey("s3cret"))
	sb, err := right.Sandbox(ctx, sessionID(t, "s"), nil)
	if err != nil {
		t.Fatalf("right token: %v", err)
	}
	sb.Close()

	// Nothing listens on port 1: a connect error, quickly.
	dead, err := noxrunner.New(noxrunner.WithHTTP("http://127.0.0.1:1"),
		noxrunner.WithTimeouts(2*time.Second, 5*time.Second), noxrunner.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	if err := dead.Health(ctx); !errors.Is(err, noxrunner.ErrConnect) {
		t.Errorf("Health on a closed port: %v, want ErrConnect", err)
	}

	if _, err := noxrunner.New(noxrunner.WithHTTP("not a url")); !errors.Is(err, noxrunner.ErrInvalid) {
		t.Errorf("New with a bad URL: %v, want ErrInvalid", err)
	}
}
