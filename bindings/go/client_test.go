package noxrunner_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	noxrunner "github.com/noxrunner/noxrunner/bindings/go"
)

func TestVersionAndABI(t *testing.T) {
	if v := noxrunner.Version(); v == "" || strings.Count(v, ".") != 2 {
		t.Errorf("Version() = %q, want x.y.z", v)
	}
	if got := noxrunner.ABIVersion(); got != 1 {
		t.Errorf("ABIVersion() = %d, want 1", got)
	}
}

func TestHealthInfoIsolation(t *testing.T) {
	eachBackend(t, func(t *testing.T, c *noxrunner.Client) {
		ctx := ctxT(t)
		if err := c.Health(ctx); err != nil {
			t.Fatalf("Health: %v", err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatalf("Info: %v", err)
		}
		if info.Name == "" || info.Version == "" || len(info.Extensions) == 0 || len(info.Raw) == 0 {
			t.Errorf("Info = %+v, want a name and the raw JSON", info)
		}
		lvl, err := c.Isolation(ctx)
		if err != nil {
			t.Fatalf("Isolation: %v", err)
		}
		if c.Backend() == noxrunner.BackendLocal && lvl == noxrunner.IsolationAuto {
			t.Errorf("local Isolation() = auto, want the resolved level")
		}
		t.Logf("backend %s, isolation %s, info %s", c.Backend(), lvl, info.Raw)
	})
}

func TestExecResultFields(t *testing.T) {
	eachBackend(t, func(t *testing.T, c *noxrunner.Client) {
		ctx := ctxT(t)
		sb := newSandbox(t, c, "s")

		res, err := sb.Exec(ctx, []string{"sh", "-c", "printf 'out\\000\\377'; printf err >&2; exit 3"}, nil)
		if err != nil {
			t.Fatalf("Exec: %v", err)
		}
		if res.ExitCode != 3 || !bytes.Equal(res.Stdout, []byte("out\x00\xff")) || string(res.Stderr) != "err" {
			t.Errorf("got exit %d stdout %q stderr %q, want 3 %q %q", res.ExitCode, res.Stdout, res.Stderr, "out\x00\xff", "err")
		}
		if res.TimedOut || res.Signal != 0 || res.StdoutTruncated || res.StderrTruncated {
			t.Errorf("unexpected flags: %+v", res)
		}

		// An argument vector is never shell-expanded; env reaches sh -c.
		res, err = sb.Exec(ctx, []string{"echo", "$X"}, &noxrunner.ExecOptions{Env: map[string]string{"X": "1"}})
		if err != nil || string(res.Stdout) != "$X\n" {
			t.Errorf("echo $X as argv: %q, %v; want literal $X", stdout(res), err)
		}
		res, err = sb.ExecShell(ctx, "echo \"$X\" $(pwd)", &noxrunner.ExecOptions{Env: map[string]string{"X": "v a l"}})
		if err != nil || string(res.Stdout) != "v a l /workspace\n" {
			t.Errorf("ExecShell: %q, %v", stdout(res), err)
		}

		// Stdin is fed and closed.
		res, err = sb.Exec(ctx, []string{"wc", "-c"}, &noxrunner.ExecOptions{Stdin: bytes.Repeat([]byte{0, 'x'}, 5000)})
		if err != nil || strings.TrimSpace(string(res.Stdout)) != "10000" {
			t.Errorf("stdin: %q, %v; want 10000", stdout(res), err)
		}

		// The per-call output cap.
		res, err = sb.ExecShell(ctx, "head -c 5000 /dev/zero", &noxrunner.ExecOptions{MaxOutput: 100})
		if err != nil || len(res.Stdout) != 100 || !res.StdoutTruncated {
			t.Errorf("MaxOutput 100: %d bytes, truncated %v, %v", len(stdout(res)), res != nil && res.StdoutTruncated, err)
		}

		// A command killed by its own timeout is a result, not an error.
		start := time.Now()
		res, err = sb.ExecShell(ctx, "echo started; sleep 30", &noxrunner.ExecOptions{Timeout: time.Second})
		if err != nil {
			t.Fatalf("timeout exec: %v", err)
		}
		if !res.TimedOut || res.ExitCode != 124 || string(res.Stdout) != "started\n" {
			t.Errorf("timeout: %+v, want TimedOut, exit 124 and the partial output", res)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("timeout exec took %s", d)
		}

		// Killed by a signal.
		res, err = sb.ExecShell(ctx, "kill -KILL $$", nil)
		if err != nil || res.ExitCode != 137 {
			t.Errorf("kill -KILL: %+v, %v; want exit 137", res, err)
		} else if res.Signal != 0 && res.Signal != 9 {
			t.Errorf("Signal = %d, want 9 (or 0 when the backend does not report it)", res.Signal)
		}
	})
}

func stdout(r *noxrunner.ExecResult) []byte {
	if r == nil {
		return nil
	}
	return r.Stdout
}

func TestSandboxInfoAndLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, c *noxrunner.Client) {
		ctx := ctxT(t)
		id := sessionID(t, "life")
		sb, err := c.Sandbox(ctx, id, &noxrunner.SandboxOptions{TTL: 120 * time.Second})
		if err != nil {
			t.Fatalf("Sandbox: %v", err)
		}
		defer sb.Close()
		info := sb.Info()
		if info.PodName == "" {
			t.Errorf("PodName is empty")
		}
		if left := time.Until(info.ExpiresAt); left < 100*time.Second || left > 130*time.Second {
			t.Errorf("ExpiresAt %s is %s away, want about 120 s", info.ExpiresAt, left)
		}
		if err := sb.Touch(ctx); err != nil {
			t.Errorf("Touch: %v", err)
		}
		if err := sb.WaitReady(ctx, 10*time.Second); err != nil {
			t.Errorf("WaitReady: %v", err)
		}
		got, err := c.GetSandbox(ctx, id)
		if err != nil || got.PodName != info.PodName {
			t.Errorf("GetSandbox = %+v, %v; want pod %q", got, err, info.PodName)
		}
		list, err := c.ListSandboxes(ctx)
		if err != nil {
			t.Fatalf("ListSandboxes: %v", err)
		}
		found := false
		for _, s := range list {
			found = found || s.SessionID == id
		}
		if !found {
			t.Errorf("ListSandboxes does not list %q", id)
		}

		// Close deletes; a second Close does nothing; methods then fail.
		if err := sb.Close(); err != nil {
			t.Fatalf("Sandbox.Close: %v", err)
		}
		if err := sb.Close(); err != nil {
			t.Errorf("second Sandbox.Close: %v", err)
		}
		if _, err := c.GetSandbox(ctx, id); !errors.Is(err, noxrunner.ErrNotFound) {
			t.Errorf("GetSandbox after Close: %v, want ErrNotFound", err)
		}
		if _, err := sb.Exec(ctx, []string{"true"}, nil); !errors.Is(err, noxrunner.ErrClosed) {
			t.Errorf("Exec on a closed Sandbox: %v, want ErrClosed", err)
		}
	})
}

func TestSandboxKeep(t *testing.T) {
	eachBackend(t, func(t *testing.T, c *noxrunner.Client) {
		ctx := ctxT(t)
		id := sessionID(t, "kept")
		sb, err := c.Sandbox(ctx, id, &noxrunner.SandboxOptions{Keep: true})
		if err != nil {
			t.Fatalf("Sandbox: %v", err)
		}
		t.Cleanup(func() { c.Delete(context.Background(), id) })
		if _, err := sb.ExecShell(ctx, "echo kept > k.txt", nil); err != nil {
			t.Fatal(err)
		}
		sb.Close()
		res, err := c.Exec(ctx, id, []string{"cat", "k.txt"}, nil)
		if err != nil || string(res.Stdout) != "kept\n" {
			t.Errorf("after closing a kept sandbox: %q, %v", stdout(res), err)
		}
	})
}
