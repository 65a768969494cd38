package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	noxrunner "github.com/noxrunner/noxrunner/bindings/go"
)

// execOptions reads exec's optional fields.
func execOptions(st step) (*noxrunner.ExecOptions, error) {
	o := &noxrunner.ExecOptions{}
	if err := getOpt(st, "workdir", &o.Workdir); err != nil {
		return nil, err
	}
	if err := getOpt(st, "env", &o.Env); err != nil {
		return nil, err
	}
	var timeout int64
	if err := getOpt(st, "timeout", &timeout); err != nil {
		return nil, err
	}
	o.Timeout = time.Duration(timeout) * time.Second
	stdin, err := textOrB64(st, "stdin")
	if err != nil {
		return nil, err
	}
	o.Stdin = stdin
	if err := getOpt(st, "max_output", &o.MaxOutput); err != nil {
		return nil, err
	}
	return o, nil
}

func (p *player) exec(ctx context.Context, op string, st step, expect map[string]json.RawMessage) (func() error, error) {
	sid, err := p.session(st)
	if err != nil {
		return nil, err
	}
	opts, err := execOptions(st)
	if err != nil {
		return nil, err
	}
	var cmd []string
	if op == "exec_shell" {
		var command string
		shell := "sh"
		if err := st.get("command", &command); err != nil {
			return nil, err
		}
		if err := getOpt(st, "shell", &shell); err != nil {
			return nil, err
		}
		cmd = []string{shell, "-c", command}
	} else if err := st.get("cmd", &cmd); err != nil {
		return nil, err
	}

	if op != "stream" {
		res, err := p.c.Exec(ctx, sid, cmd, opts)
		if err != nil {
			return nil, err
		}
		return func() error { return checkExec(res, -1, expect) }, nil
	}

	var cancelFirst bool
	if err := getOpt(st, "cancel_after_first_chunk", &cancelFirst); err != nil {
		return nil, err
	}
	s, err := p.c.StartExec(ctx, sid, cmd, opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var out, errb bytes.Buffer
	chunks := 0
	for {
		ev, err := s.Next(ctx)
		if err != nil {
			return nil, err
		}
		switch ev.Kind {
		case noxrunner.EventStdout:
			chunks++
			out.Write(ev.Data)
			if cancelFirst {
				s.Cancel()
			}
		case noxrunner.EventStderr:
			chunks++
			errb.Write(ev.Data)
		case noxrunner.EventExit:
			res := *ev.Result
			res.Stdout, res.Stderr = out.Bytes(), errb.Bytes()
			if cancelFirst {
				return nil, fmt.Errorf("the command exited (code %d) although it was cancelled", res.ExitCode)
			}
			return func() error { return checkExec(&res, chunks, expect) }, nil
		}
	}
}

// checkExec compares a result with the expect keys of exec, exec_shell and
// stream (chunks < 0: not a stream).
func checkExec(r *noxrunner.ExecResult, chunks int, expect map[string]json.RawMessage) error {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	for key, raw := range expect {
		switch key {
		case "error", "message_contains":
		case "exit_code", "exit_code_not", "stdout_len", "stdout_max_len", "duration_ms_max", "min_chunks":
			var n int64
			if err := json.Unmarshal(raw, &n); err != nil {
				return badField("expect.%s: %v", key, err)
			}
			switch key {
			case "exit_code":
				if int64(r.ExitCode) != n {
					fail("exit code %d, expected %d", r.ExitCode, n)
				}
			case "exit_code_not":
				if int64(r.ExitCode) == n {
					fail("exit code %d, expected anything else", r.ExitCode)
				}
			case "stdout_len":
				if int64(len(r.Stdout)) != n {
					fail("stdout is %d bytes, expected %d", len(r.Stdout), n)
				}
			case "stdout_max_len":
				if int64(len(r.Stdout)) > n {
					fail("stdout is %d bytes, expected at most %d", len(r.Stdout), n)
				}
			case "duration_ms_max":
				if r.Duration.Milliseconds() > n {
					fail("durationMs %d, expected at most %d", r.Duration.Milliseconds(), n)
				}
			case "min_chunks":
				if chunks < 0 {
					return badField("min_chunks outside a stream step")
				}
				if int64(chunks) < n {
					fail("%d chunks, expected at least %d", chunks, n)
				}
			}
		case "stdout", "stderr":
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return badField("expect.%s: %v", key, err)
			}
			if got := stream(r, key); !bytes.Equal(got, []byte(s)) {
				fail("%s %s, expected %q", key, show(got), s)
			}
		case "stdout_b64", "stderr_b64":
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return badField("expect.%s: %v", key, err)
			}
			want, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return badField("expect.%s: %v", key, err)
			}
			name := strings.TrimSuffix(key, "_b64")
			if got := stream(r, name); !bytes.Equal(got, want) {
				fail("%s %s, expected %q", name, show(got), want)
			}
		case "stdout_contains", "stderr_contains", "stdout_not_contains":
			subs, err := stringOrList(raw)
			if err != nil {
				return badField("expect.%s: %v", key, err)
			}
			name := key[:6]
			got := stream(r, name)
			for _, sub := range subs {
				has := bytes.Contains(got, []byte(sub))
				if key == "stdout_not_contains" && has {
					fail("stdout %s contains %q", show(got), sub)
				} else if key != "stdout_not_contains" && !has {
					fail("%s %s does not contain %q", name, show(got), sub)
				}
			}
		case "timed_out", "stdout_truncated", "stderr_truncated":
			var want bool
			if err := json.Unmarshal(raw, &want); err != nil {
				return badField("expect.%s: %v", key, err)
			}
			got := map[string]bool{"timed_out": r.TimedOut, "stdout_truncated": r.StdoutTruncated,
				"stderr_truncated": r.StderrTruncated}[key]
			if got != want {
				fail("%s is %v, expected %v", key, got, want)
			}
		default:
			return badField("unknown expect key %q", key)
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; ") + fmt.Sprintf(" [exit %d, stderr %s]", r.ExitCode, show(r.Stderr)))
	}
	return nil
}

func stream(r *noxrunner.ExecResult, name string) []byte {
	if name == "stderr" {
		return r.Stderr
	}
	return r.Stdout
}

func stringOrList(raw json.RawMessage) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var list []string
	err := json.Unmarshal(raw, &list)
	return list, err
}

// show quotes output for a message, cut to a readable length.
func show(b []byte) string {
	if len(b) > 200 {
		return fmt.Sprintf("%q... (%d bytes)", b[:200], len(b))
	}
	return fmt.Sprintf("%q", b)
}
