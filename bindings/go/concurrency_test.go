package noxrunner_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	noxrunner "github.com/noxrunner/noxrunner/bindings/go"
)

func TestConcurrentCallsOnOneClient(t *testing.T) {
	eachBackend(t, func(t *testing.T, c *noxrunner.Client) {
		ctx := ctxT(t)
		boxes := []*noxrunner.Sandbox{newSandbox(t, c, "a"), newSandbox(t, c, "b")}
		const workers, rounds = 16, 5
		var wg sync.WaitGroup
		errs := make(chan error, workers*rounds)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				sb := boxes[w%len(boxes)]
				for r := 0; r < rounds; r++ {
					want := fmt.Sprintf("w%d-r%d", w, r)
					var res *noxrunner.ExecResult
					var err error
					switch r % 3 {
					case 0:
						res, err = sb.Exec(ctx, []string{"echo", want}, nil)
					case 1:
						res, err = sb.ExecShell(ctx, "cat", &noxrunner.ExecOptions{Stdin: []byte(want + "\n")})
					default:
						path := want + ".txt"
						if err = sb.Upload(ctx, []noxrunner.File{{Path: path, Data: []byte(want + "\n")}}, ""); err == nil {
							res, err = sb.Exec(ctx, []string{"cat", path}, nil)
						}
					}
					if err != nil {
						errs <- fmt.Errorf("%s: %v", want, err)
					} else if string(res.Stdout) != want+"\n" {
						errs <- fmt.Errorf("%s: got %q", want, res.Stdout)
					}
					if err := c.Health(ctx); err != nil {
						errs <- err
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func TestCloseIsIdempotentAndUseAfterCloseFails(t *testing.T) {
	eachBackendDir(t, func(t *testing.T, backend, dir string) {
		ctx := ctxT(t)
		// A second client deletes the sandbox at the end, since c closes.
		other := newClientAt(t, backend, dir)
		c := newClientAt(t, backend, dir)
		id := sessionID(t, "s")
		if _, err := c.CreateSandbox(ctx, id, nil); err != nil {
			t.Fatal(err)
		}
		s, err := c.StartExec(ctx, id, []string{"sh", "-c", "echo hi; sleep 0.2; echo bye"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		t.Cleanup(func() { other.Delete(context.Background(), id) })

		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		checks := map[string]error{
			"Health": c.Health(ctx),
			"Touch":  c.Touch(ctx, id),
			"Exec":   execErr(c.Exec(ctx, id, []string{"true"}, nil)),
			"Upload": c.Upload(ctx, id, nil, ""),
		}
		_, checks["Download"] = c.Download(ctx, id, "")
		_, checks["Info"] = c.Info(ctx)
		for name, err := range checks {
			if !errors.Is(err, noxrunner.ErrClosed) || !errors.Is(err, noxrunner.ErrInvalid) {
				t.Errorf("%s after Close: %v, want ErrClosed", name, err)
			}
		}

		// A stream outlives its client (the C API promises it).
		var out []byte
		for ev, err := range s.Events(ctx) {
			if err != nil {
				t.Fatalf("stream after the client closed: %v", err)
			}
			out = append(out, ev.Data...)
		}
		if string(out) != "hi\nbye\n" {
			t.Errorf("stream output %q", out)
		}
		if err := s.Close(); err != nil {
			t.Errorf("stream Close after Events closed it: %v", err)
		}
		if _, err := s.Next(ctx); !errors.Is(err, noxrunner.ErrClosed) {
			t.Errorf("Next after Close: %v, want ErrClosed", err)
		}
		s.Cancel() // after Close: a no-op, not a crash
	})
}

func TestCloseWhileCallsRun(t *testing.T) {
	dir := t.TempDir()
	other := newClientAt(t, "local", dir)
	c := newClientAt(t, "local", dir)
	ctx := ctxT(t)
	id := sessionID(t, "s")
	if _, err := c.CreateSandbox(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Delete(context.Background(), id) })
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, closed := 0, 0
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				_, err := c.Exec(ctx, id, []string{"sleep", "0.1"}, nil)
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, noxrunner.ErrClosed):
					closed++
				default:
					t.Errorf("Exec racing Close: %v", err)
				}
				mu.Unlock()
			}
		}()
	}
	// Close once some calls are done (an event, not a guess of how long a
	// loaded host takes): the rest race the Close.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		done := ok
		mu.Unlock()
		if done > 0 || time.Now().After(deadline) {
			break
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if ok == 0 || closed == 0 {
		t.Errorf("%d calls succeeded and %d saw ErrClosed; want some of each", ok, closed)
	}
}

func TestUnclosedClientIsCleanedUp(t *testing.T) {
	// A Client nobody closed becomes unreachable, so the binding's cleanup
	// (runtime.AddCleanup, which frees the C client) runs: a binding that
	// kept its clients reachable (a registry, a cgo handle never deleted)
	// would leak every C client and fail here. Watched by a cleanup of our
	// own on each Client; and no crash when the binding's runs.
	const n = 20
	var collected atomic.Int32
	for i := 0; i < n; i++ {
		c, err := noxrunner.New(noxrunner.WithHTTP("http://127.0.0.1:1"))
		if err != nil {
			t.Fatal(err)
		}
		runtime.AddCleanup(c, func(int) { collected.Add(1) }, i)
	}
	for deadline := time.Now().Add(10 * time.Second); collected.Load() < n && time.Now().Before(deadline); {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := collected.Load(); got != n {
		t.Errorf("%d of %d unclosed clients were collected", got, n)
	}
}
