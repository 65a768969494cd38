package noxrunner_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	noxrunner "github.com/noxrunner/noxrunner/bindings/go"
)

// pidFileCmd writes the shell's pid where a later exec finds it, then
// becomes a long sleep (so the pid is the sleeping process), with a child
// sleep in the background that must die too.
const pidFileCmd = "sleep 300 & echo $! > /workspace/child.pid; echo $$ > /workspace/main.pid; echo started; exec sleep 300"

// gone checks from inside the sandbox that the recorded processes are dead.
// A missing pid file fails (the processes were never seen, not shown gone);
// the files are removed once the processes are gone, so the next command
// records its own.
func assertGone(t *testing.T, sb *noxrunner.Sandbox) {
	t.Helper()
	// The kill is asynchronous in some backends: allow it time (a loaded
	// 2-core host, other suites running).
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := sb.ExecShell(context.Background(),
			"for f in main child; do p=$(cat /workspace/$f.pid 2>/dev/null); "+
				"if [ -z \"$p\" ]; then echo $f.pid missing; "+
				"elif kill -0 $p 2>/dev/null; then echo $f alive; fi; done; true", nil)
		if err != nil {
			t.Fatalf("checking the processes: %v", err)
		}
		if strings.Contains(string(res.Stdout), "missing") {
			t.Fatalf("no pid to check: %s", res.Stdout)
		}
		if len(res.Stdout) == 0 {
			if _, err := sb.ExecShell(context.Background(), "rm -f /workspace/main.pid /workspace/child.pid", nil); err != nil {
				t.Fatalf("removing the pid files: %v", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes survived the cancellation: %s", res.Stdout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestContextCancelKillsCommand(t *testing.T) {
	eachBackend(t, func(t *testing.T, c *noxrunner.Client) {
		sb := newSandbox(t, c, "s")

		// Deadline: ErrTimeout, matching context.DeadlineExceeded.
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		start := time.Now()
		res, err := sb.ExecShell(ctx, pidFileCmd, &noxrunner.ExecOptions{Timeout: 5 * time.Minute})
		elapsed := time.Since(start)
		if res != nil || !errors.Is(err, noxrunner.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Exec past the context deadline: %v, %v; want ErrTimeout and DeadlineExceeded", res, err)
		}
		if elapsed > 10*time.Second { // 1.5 s, plus the kill, on a loaded host
			t.Errorf("Exec returned %s after its 1.5 s deadline", elapsed)
		}
		assertGone(t, sb)

		// Explicit cancel from another goroutine: ErrCanceled.
		ctx, cancel = context.WithCancel(context.Background())
		s, err := sb.StartExec(ctx, []string{"sh", "-c", pidFileCmd}, nil)
		if err != nil {
			t.Fatalf("StartExec: %v", err)
		}
		defer s.Close()
		ev, err := s.Next(context.Background())
		if err != nil || ev.Kind != noxrunner.EventStdout || !strings.HasPrefix(string(ev.Data), "started") {
			t.Fatalf("first event %v %q, %v; want stdout \"started\"", ev.Kind, ev.Data, err)
		}
		time.AfterFunc(200*time.Millisecond, cancel)
		start = time.Now()
		for err == nil {
			_, err = s.Next(context.Background())
		}
		if !errors.Is(err, noxrunner.ErrCanceled) || !errors.Is(err, context.Canceled) {
			t.Errorf("Next after cancel: %v, want ErrCanceled and context.Canceled", err)
		}
		if d := time.Since(start); d > 10*time.Second { // 0.2 s, plus the kill, on a loaded host
			t.Errorf("Next took %s to notice the cancellation", d)
		}
		assertGone(t, sb)

		// The sandbox still works afterwards.
		res, err = sb.Exec(context.Background(), []string{"echo", "after"}, nil)
		if err != nil || string(res.Stdout) != "after\n" {
			t.Errorf("exec after cancel: %q, %v", stdout(res), err)
		}
	})
}

func TestStreamCancelMethod(t *testing.T) {
	eachBackend(t, func(t *testing.T, c *noxrunner.Client) {
		sb := newSandbox(t, c, "s")
		s, err := sb.StartExec(ctxT(t), []string{"sh", "-c", pidFileCmd}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Next(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		s.Cancel()
		s.Cancel() // idempotent
		for err == nil {
			_, err = s.Next(ctxT(t))
		}
		if !errors.Is(err, noxrunner.ErrCanceled) || errors.Is(err, context.Canceled) {
			t.Errorf("after Cancel: %v, want ErrCanceled (not a context error)", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		assertGone(t, sb)
	})
}

func TestNextContextOnlyStopsWaiting(t *testing.T) {
	c := newClient(t, "local")
	sb := newSandbox(t, c, "s")
	s, err := sb.StartExec(context.Background(), []string{"sh", "-c", "sleep 1; echo late"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with a short context: %v, want DeadlineExceeded", err)
	}
	// The command was not killed: its output still arrives.
	var out []byte
	for ev, err := range s.Events(ctxT(t)) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev.Data...)
		if ev.Kind == noxrunner.EventExit && ev.Result.ExitCode != 0 {
			t.Errorf("exit %d", ev.Result.ExitCode)
		}
	}
	if string(out) != "late\n" {
		t.Errorf("output %q, want \"late\\n\"", out)
	}
}

func TestExecStreamIterator(t *testing.T) {
	eachBackend(t, func(t *testing.T, c *noxrunner.Client) {
		ctx := ctxT(t)
		sb := newSandbox(t, c, "s")
		var out, errb []byte
		var exit *noxrunner.ExecResult
		for ev, err := range sb.ExecStream(ctx, []string{"sh", "-c", "for i in 1 2 3; do echo o$i; echo e$i >&2; sleep 0.1; done; exit 7"}, nil) {
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			switch ev.Kind {
			case noxrunner.EventStdout:
				out = append(out, ev.Data...)
			case noxrunner.EventStderr:
				errb = append(errb, ev.Data...)
			case noxrunner.EventExit:
				exit = ev.Result
			}
		}
		if string(out) != "o1\no2\no3\n" || string(errb) != "e1\ne2\ne3\n" || exit == nil || exit.ExitCode != 7 {
			t.Errorf("stdout %q stderr %q exit %+v", out, errb, exit)
		}

		// Breaking out of the loop closes the stream and kills the command.
		for ev, err := range sb.ExecStream(ctx, []string{"sh", "-c", pidFileCmd}, nil) {
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind == noxrunner.EventStdout {
				break
			}
		}
		assertGone(t, sb)

		// A failure to start is the iterator's only element.
		n := 0
		for _, err := range c.ExecStream(ctx, sessionID(t, "missing"), []string{"true"}, nil) {
			n++
			if !errors.Is(err, noxrunner.ErrNotFound) {
				t.Errorf("stream on an unknown session: %v, want ErrNotFound", err)
			}
		}
		if n != 1 {
			t.Errorf("%d elements, want 1", n)
		}
	})
}
