package noxrunner_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	noxrunner "github.com/noxrunner/noxrunner/bindings/go"
)

func TestErrorsIsAndAs(t *testing.T) {
	eachBackend(t, func(t *testing.T, c *noxrunner.Client) {
		ctx := ctxT(t)
		missing := sessionID(t, "missing")

		_, err := c.Exec(ctx, missing, []string{"true"}, nil)
		if !errors.Is(err, noxrunner.ErrNotFound) {
			t.Fatalf("Exec on an unknown session: %v, want ErrNotFound", err)
		}
		if errors.Is(err, noxrunner.ErrInvalid) || errors.Is(err, noxrunner.ErrClosed) {
			t.Errorf("a not-found error also matches another sentinel: %v", err)
		}
		var ne *noxrunner.Error
		if !errors.As(err, &ne) {
			t.Fatalf("errors.As(*Error) failed on %T", err)
		}
		if ne.Code != noxrunner.CodeNotFound || ne.Code.String() != "NOX_ENOTFOUND" {
			t.Errorf("Code = %d %s", ne.Code, ne.Code)
		}
		if !strings.Contains(ne.Message, missing) {
			t.Errorf("message %q does not name the session", ne.Message)
		}
		if c.Backend() == noxrunner.BackendHTTP && ne.HTTPStatus != 404 {
			t.Errorf("HTTPStatus = %d, want 404", ne.HTTPStatus)
		}
		if !strings.Contains(err.Error(), "NOX_ENOTFOUND") {
			t.Errorf("Error() = %q, want the code name in it", err.Error())
		}

		for _, tc := range []struct {
			name string
			err  error
			want error
		}{
			{"touch unknown", c.Touch(ctx, missing), noxrunner.ErrNotFound},
			{"delete unknown", c.Delete(ctx, missing), noxrunner.ErrNotFound},
			{"empty session id", c.Touch(ctx, ""), noxrunner.ErrInvalid},
			{"NUL in session id", c.Touch(ctx, "a\x00b"), noxrunner.ErrInvalid},
			{"empty argv", execErr(c.Exec(ctx, missing, nil, nil)), noxrunner.ErrInvalid},
			{"ttl too long", createErr(c.CreateSandbox(ctx, missing, &noxrunner.SandboxOptions{TTL: 31 * 24 * time.Hour})), noxrunner.ErrInvalid},
			{"negative timeout", execErr(c.Exec(ctx, missing, []string{"true"}, &noxrunner.ExecOptions{Timeout: -time.Second})), noxrunner.ErrInvalid},
			{"unsafe upload name", c.Upload(ctx, missing, []noxrunner.File{{Path: "../x", Data: []byte("x")}}, ""), noxrunner.ErrInvalid},
		} {
			if !errors.Is(tc.err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
			}
		}

		sb := newSandbox(t, c, "arch")
		err = sb.UploadTarGz(ctx, []byte("this is not a tar.gz"), "")
		if c.Backend() == noxrunner.BackendLocal && !errors.Is(err, noxrunner.ErrArchive) {
			t.Errorf("corrupt archive: %v, want ErrArchive", err)
		} else if err == nil {
			t.Errorf("corrupt archive accepted")
		}
	})
}

func execErr(_ *noxrunner.ExecResult, err error) error   { return err }
func createErr(_ noxrunner.SandboxInfo, err error) error { return err }

func TestCanceledContextBeforeCall(t *testing.T) {
	c := newClient(t, "local")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Health(ctx)
	if !errors.Is(err, noxrunner.ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Errorf("Health with a cancelled context: %v, want ErrCanceled and context.Canceled", err)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err = c.CreateSandbox(ctx, sessionID(t, "x"), nil)
	if !errors.Is(err, noxrunner.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CreateSandbox past its deadline: %v, want ErrTimeout and DeadlineExceeded", err)
	}
}
