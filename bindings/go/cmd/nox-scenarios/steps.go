package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	noxrunner "github.com/noxrunner/noxrunner/bindings/go"
)

// player plays the steps of one scenario run.
type player struct {
	c      *noxrunner.Client
	prefix string

	mu       sync.Mutex
	sessions map[string]bool // every session id the scenario touched
}

// step is one decoded step. Fields are raw so that each op can check that
// it knows every key it was given.
type step map[string]json.RawMessage

// stepTimeout bounds one step, so a hung backend fails the scenario
// instead of the whole run.
const stepTimeout = 3 * time.Minute

var opFields = map[string][]string{
	"health":       {},
	"create":       {"session", "ttl", "image", "cpu_limit", "memory_limit", "ephemeral_storage_limit"},
	"touch":        {"session"},
	"delete":       {"session"},
	"wait_ready":   {"session", "timeout_ms"},
	"exec":         {"session", "cmd", "workdir", "env", "timeout", "stdin", "stdin_b64", "max_output"},
	"exec_shell":   {"session", "command", "shell", "workdir", "env", "timeout", "stdin", "stdin_b64", "max_output"},
	"stream":       {"session", "cmd", "workdir", "env", "timeout", "stdin", "stdin_b64", "max_output", "cancel_after_first_chunk"},
	"upload":       {"session", "dest", "files"},
	"upload_targz": {"session", "dest", "targz_b64"},
	"download":     {"session", "src"},
	"sleep":        {"seconds"},
	"parallel":     {"count", "step"},
}

var execExpect = []string{"exit_code", "exit_code_not", "stdout", "stderr", "stdout_b64",
	"stderr_b64", "stdout_contains", "stderr_contains", "stdout_not_contains", "stdout_len",
	"stdout_max_len", "timed_out", "stdout_truncated", "stderr_truncated", "duration_ms_max"}

var opExpect = map[string][]string{
	"create":     {"pod_name_nonempty"},
	"exec":       execExpect,
	"exec_shell": execExpect,
	"stream":     append(append([]string{}, execExpect...), "min_chunks"),
	"download":   {"files", "files_b64", "modes", "dirs", "absent"},
}

func (p *player) step(raw json.RawMessage) error {
	var st step
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("not a JSON object: %v", err)
	}
	var op string
	if err := st.get("op", &op); err != nil || op == "" {
		return errors.New("no op")
	}
	known, ok := opFields[op]
	if !ok {
		return fmt.Errorf("unknown op %q", op)
	}
	expect := map[string]json.RawMessage{}
	if _, has := st["expect"]; has {
		if err := st.get("expect", &expect); err != nil {
			return fmt.Errorf("%s: expect: %v", op, err)
		}
	}
	for k := range st {
		if k != "op" && k != "expect" && !contains(known, k) {
			return fmt.Errorf("%s: unknown field %q", op, k)
		}
	}
	noExpect := op == "sleep" || op == "parallel" // the inner step of a parallel has one
	for k := range expect {
		if (noExpect || (k != "error" && k != "message_contains")) && !contains(opExpect[op], k) {
			return fmt.Errorf("%s: unknown expect key %q", op, k)
		}
	}
	// It checks an error's message: without "error" it could only be
	// ignored, so it is refused (as in every runner).
	if _, mc := expect["message_contains"]; mc {
		if _, e := expect["error"]; !e {
			return fmt.Errorf("%s: expect.message_contains needs expect.error", op)
		}
	}
	var wantErr, wantMsg string
	if err := getOpt(expect, "error", &wantErr); err != nil {
		return err
	}
	if err := getOpt(expect, "message_contains", &wantMsg); err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	check, err := p.do(ctx, op, st, expect)
	if err != nil && isRunnerError(err) {
		return fmt.Errorf("%s: %v", op, err)
	}
	if wantErr != "" {
		if err == nil {
			return fmt.Errorf("%s: succeeded, expected %s", op, wantErr)
		}
		var ne *noxrunner.Error
		if !errors.As(err, &ne) {
			return fmt.Errorf("%s: failed with %v, expected %s", op, err, wantErr)
		}
		if ne.Code.String() != wantErr {
			return fmt.Errorf("%s: failed with %s (%s), expected %s", op, ne.Code, ne.Message, wantErr)
		}
		if wantMsg != "" && !strings.Contains(ne.Message, wantMsg) {
			return fmt.Errorf("%s: message %q does not contain %q", op, ne.Message, wantMsg)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %v", op, err)
	}
	if wantMsg != "" {
		return fmt.Errorf("%s: message_contains %q given, but the step succeeded", op, wantMsg)
	}
	if check != nil {
		if err := check(); err != nil {
			return fmt.Errorf("%s: %v", op, err)
		}
	}
	return nil
}

// runnerError marks a problem of the scenario file or of the runner, which
// an expected error code must not hide.
type runnerError struct{ error }

func isRunnerError(err error) bool {
	var re runnerError
	return errors.As(err, &re)
}

func badField(format string, args ...any) error {
	return runnerError{fmt.Errorf(format, args...)}
}

func (st step) get(key string, v any) error {
	raw, ok := st[key]
	if !ok {
		return badField("missing field %q", key)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return badField("field %q: %v", key, err)
	}
	return nil
}

// getOpt decodes key when present and leaves v alone otherwise.
func getOpt(m map[string]json.RawMessage, key string, v any) error {
	raw, ok := m[key]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return badField("field %q: %v", key, err)
	}
	return nil
}

// session reads the session field and expands $S, $S2, $S3.
func (p *player) session(st step) (string, error) {
	var s string
	if err := st.get("session", &s); err != nil {
		return "", err
	}
	id := expandSession(s, p.prefix)
	p.mu.Lock()
	p.sessions[id] = true
	p.mu.Unlock()
	return id, nil
}

func expandSession(s, prefix string) string {
	for _, n := range []string{"3", "2"} {
		s = strings.ReplaceAll(s, "$S"+n, prefix+n)
	}
	return strings.ReplaceAll(s, "$S", prefix+"1")
}

// do performs one op; it returns a check to run on success.
func (p *player) do(ctx context.Context, op string, st step, expect map[string]json.RawMessage) (func() error, error) {
	switch op {
	case "health":
		return nil, p.c.Health(ctx)
	case "sleep":
		var secs float64
		if err := st.get("seconds", &secs); err != nil {
			return nil, err
		}
		time.Sleep(time.Duration(secs * float64(time.Second)))
		return nil, nil
	case "create":
		return p.create(ctx, st)
	case "touch", "delete":
		sid, err := p.session(st)
		if err != nil {
			return nil, err
		}
		if op == "touch" {
			return nil, p.c.Touch(ctx, sid)
		}
		return nil, p.c.Delete(ctx, sid)
	case "wait_ready":
		sid, err := p.session(st)
		if err != nil {
			return nil, err
		}
		tms := int64(30000) // the default of every runner
		if err := getOpt(st, "timeout_ms", &tms); err != nil {
			return nil, err
		}
		return nil, p.c.WaitReady(ctx, sid, time.Duration(tms)*time.Millisecond)
	case "exec", "exec_shell", "stream":
		return p.exec(ctx, op, st, expect)
	case "upload":
		return p.upload(ctx, st)
	case "upload_targz":
		sid, err := p.session(st)
		if err != nil {
			return nil, err
		}
		var dest, b64 string
		if err := getOpt(st, "dest", &dest); err != nil {
			return nil, err
		}
		if err := st.get("targz_b64", &b64); err != nil {
			return nil, err
		}
		data, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, badField("targz_b64: %v", err)
		}
		return nil, p.c.UploadTarGz(ctx, sid, data, dest)
	case "download":
		return p.download(ctx, st, expect)
	case "parallel":
		return p.parallel(ctx, st)
	}
	return nil, badField("unknown op %q", op)
}

func (p *player) create(ctx context.Context, st step) (func() error, error) {
	sid, err := p.session(st)
	if err != nil {
		return nil, err
	}
	var ttl int64
	opts := &noxrunner.SandboxOptions{}
	if err := getOpt(st, "ttl", &ttl); err != nil {
		return nil, err
	}
	opts.TTL = time.Duration(ttl) * time.Second
	for key, dst := range map[string]*string{"image": &opts.Image, "cpu_limit": &opts.CPULimit,
		"memory_limit": &opts.MemoryLimit, "ephemeral_storage_limit": &opts.EphemeralStorageLimit} {
		if err := getOpt(st, key, dst); err != nil {
			return nil, err
		}
	}
	info, err := p.c.CreateSandbox(ctx, sid, opts)
	if err != nil {
		return nil, err
	}
	return func() error {
		if info.PodName == "" {
			return errors.New("podName is empty")
		}
		if info.ExpiresAt.IsZero() || info.ExpiresAt.Unix() <= 0 {
			return errors.New("expiresAt did not parse as ISO-8601")
		}
		if info.SessionID != "" && info.SessionID != sid {
			return fmt.Errorf("session id %q, expected %q", info.SessionID, sid)
		}
		return nil
	}, nil
}

func (p *player) upload(ctx context.Context, st step) (func() error, error) {
	sid, err := p.session(st)
	if err != nil {
		return nil, err
	}
	var dest string
	if err := getOpt(st, "dest", &dest); err != nil {
		return nil, err
	}
	var raws []step
	if err := st.get("files", &raws); err != nil {
		return nil, err
	}
	files := make([]noxrunner.File, 0, len(raws))
	for i, f := range raws {
		for k := range f {
			if !contains([]string{"path", "content", "content_b64", "mode"}, k) {
				return nil, badField("files[%d]: unknown field %q", i, k)
			}
		}
		var nf noxrunner.File
		if err := f.get("path", &nf.Path); err != nil {
			return nil, err
		}
		data, err := textOrB64(f, "content")
		if err != nil {
			return nil, err
		}
		nf.Data = data
		var mode uint32
		if err := getOpt(f, "mode", &mode); err != nil {
			return nil, err
		}
		nf.Mode = fs.FileMode(mode)
		files = append(files, nf)
	}
	return nil, p.c.Upload(ctx, sid, files, dest)
}

// textOrB64 reads key (UTF-8 text) or key_b64 (bytes); nil when neither.
func textOrB64(st step, key string) ([]byte, error) {
	if _, ok := st[key+"_b64"]; ok {
		var s string
		if err := st.get(key+"_b64", &s); err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, badField("%s_b64: %v", key, err)
		}
		return b, nil
	}
	if _, ok := st[key]; ok {
		var s string
		if err := st.get(key, &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	}
	return nil, nil
}

func (p *player) parallel(ctx context.Context, st step) (func() error, error) {
	var count int
	if err := st.get("count", &count); err != nil {
		return nil, err
	}
	raw, ok := st["step"]
	if !ok {
		return nil, badField("missing field \"step\"")
	}
	var inner step
	if err := json.Unmarshal(raw, &inner); err != nil {
		return nil, badField("step: %v", err)
	}
	var innerOp string
	if err := inner.get("op", &innerOp); err != nil {
		return nil, err
	}
	if innerOp != "exec" && innerOp != "exec_shell" {
		return nil, badField("parallel step must be exec or exec_shell, not %q", innerOp)
	}
	errs := make([]error, count)
	var wg sync.WaitGroup
	for i := 0; i < count; i++ {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, badField("step: %v", err)
		}
		b, _ := json.Marshal(replaceI(v, strconv.Itoa(i)))
		wg.Add(1)
		go func(i int, b []byte) {
			defer wg.Done()
			errs[i] = p.step(b)
		}(i, b)
	}
	wg.Wait()
	var msgs []string
	for i, err := range errs {
		if err != nil {
			msgs = append(msgs, fmt.Sprintf("repetition %d: %v", i, err))
		}
	}
	if len(msgs) > 0 {
		return nil, runnerError{errors.New(strings.Join(msgs, "; "))}
	}
	return nil, nil
}

// replaceI replaces $I in every string of v (keys too).
func replaceI(v any, i string) any {
	switch t := v.(type) {
	case string:
		return strings.ReplaceAll(t, "$I", i)
	case []any:
		for k := range t {
			t[k] = replaceI(t[k], i)
		}
		return t
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[strings.ReplaceAll(k, "$I", i)] = replaceI(x, i)
		}
		return out
	}
	return v
}
