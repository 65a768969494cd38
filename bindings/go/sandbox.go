package noxrunner

import (
	"context"
	"errors"
	"io"
	"iter"
	"sync"
	"time"
)

// Sandbox is one sandbox bound to its client: the session id is given
// once, and Close deletes the sandbox (unless it is kept). It holds no C
// memory of its own. Safe for concurrent use.
type Sandbox struct {
	c    *Client
	id   string
	keep bool

	mu     sync.Mutex
	info   SandboxInfo
	closed bool
}

// Sandbox creates the sandbox for sessionID (or finds the live one) and
// returns a value whose Close deletes it, unless opts.Keep is set. opts
// may be nil.
func (c *Client) Sandbox(ctx context.Context, sessionID string, opts *SandboxOptions) (*Sandbox, error) {
	info, err := c.CreateSandbox(ctx, sessionID, opts)
	if err != nil {
		return nil, err
	}
	return &Sandbox{c: c, id: sessionID, keep: opts != nil && opts.Keep, info: info}, nil
}

// ID returns the session id.
func (s *Sandbox) ID() string { return s.id }

// Info returns what the backend said at creation (or the last Refresh).
func (s *Sandbox) Info() SandboxInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

// Keep makes Close leave the sandbox alive (it still expires by its TTL).
func (s *Sandbox) Keep() {
	s.mu.Lock()
	s.keep = true
	s.mu.Unlock()
}

// Refresh creates the sandbox again if it is gone, or refreshes its TTL,
// and updates Info.
func (s *Sandbox) Refresh(ctx context.Context, opts *SandboxOptions) (SandboxInfo, error) {
	if err := s.check("create"); err != nil {
		return SandboxInfo{}, err
	}
	info, err := s.c.CreateSandbox(ctx, s.id, opts)
	if err == nil {
		s.mu.Lock()
		s.info = info
		s.mu.Unlock()
	}
	return info, err
}

func (s *Sandbox) check(op string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed(op + " on sandbox " + quoteShort(s.id))
	}
	return nil
}

// Exec runs cmd in the sandbox; see Client.Exec.
func (s *Sandbox) Exec(ctx context.Context, cmd []string, opts *ExecOptions) (*ExecResult, error) {
	if err := s.check("exec"); err != nil {
		return nil, err
	}
	return s.c.Exec(ctx, s.id, cmd, opts)
}

// ExecShell runs command through "sh -c"; see Client.ExecShell.
func (s *Sandbox) ExecShell(ctx context.Context, command string, opts *ExecOptions) (*ExecResult, error) {
	if err := s.check("exec"); err != nil {
		return nil, err
	}
	return s.c.ExecShell(ctx, s.id, command, opts)
}

// StartExec starts cmd and returns its stream; see Client.StartExec.
func (s *Sandbox) StartExec(ctx context.Context, cmd []string, opts *ExecOptions) (*Stream, error) {
	if err := s.check("exec"); err != nil {
		return nil, err
	}
	return s.c.StartExec(ctx, s.id, cmd, opts)
}

// ExecStream iterates over the output events of cmd; see
// Client.ExecStream.
func (s *Sandbox) ExecStream(ctx context.Context, cmd []string, opts *ExecOptions) iter.Seq2[Event, error] {
	if err := s.check("exec"); err != nil {
		return func(yield func(Event, error) bool) { yield(Event{}, err) }
	}
	return s.c.ExecStream(ctx, s.id, cmd, opts)
}

// Upload writes files into dest ("" means /workspace); see Client.Upload.
func (s *Sandbox) Upload(ctx context.Context, files []File, dest string) error {
	if err := s.check("upload"); err != nil {
		return err
	}
	return s.c.Upload(ctx, s.id, files, dest)
}

// UploadDir uploads a local tree; see Client.UploadDir.
func (s *Sandbox) UploadDir(ctx context.Context, localDir, dest string) error {
	if err := s.check("upload"); err != nil {
		return err
	}
	return s.c.UploadDir(ctx, s.id, localDir, dest)
}

// UploadTarGz uploads a ready tar.gz archive; see Client.UploadTarGz.
func (s *Sandbox) UploadTarGz(ctx context.Context, targz []byte, dest string) error {
	if err := s.check("upload"); err != nil {
		return err
	}
	return s.c.UploadTarGz(ctx, s.id, targz, dest)
}

// UploadTarGzFrom uploads a tar.gz archive read from r; see
// Client.UploadTarGzFrom.
func (s *Sandbox) UploadTarGzFrom(ctx context.Context, r io.Reader, dest string) error {
	if err := s.check("upload"); err != nil {
		return err
	}
	return s.c.UploadTarGzFrom(ctx, s.id, r, dest)
}

// Download returns src ("" means /workspace) as tar.gz bytes; see
// Client.Download.
func (s *Sandbox) Download(ctx context.Context, src string) ([]byte, error) {
	if err := s.check("download"); err != nil {
		return nil, err
	}
	return s.c.Download(ctx, s.id, src)
}

// DownloadTo writes the tar.gz archive of src to w; see Client.DownloadTo.
func (s *Sandbox) DownloadTo(ctx context.Context, src string, w io.Writer) error {
	if err := s.check("download"); err != nil {
		return err
	}
	return s.c.DownloadTo(ctx, s.id, src, w)
}

// DownloadToDir extracts src safely into localDir; see
// Client.DownloadToDir.
func (s *Sandbox) DownloadToDir(ctx context.Context, src, localDir string) error {
	if err := s.check("download"); err != nil {
		return err
	}
	return s.c.DownloadToDir(ctx, s.id, src, localDir)
}

// Touch extends the sandbox's TTL.
func (s *Sandbox) Touch(ctx context.Context) error {
	if err := s.check("touch"); err != nil {
		return err
	}
	return s.c.Touch(ctx, s.id)
}

// WaitReady blocks until the sandbox answers an exec; see
// Client.WaitReady.
func (s *Sandbox) WaitReady(ctx context.Context, timeout time.Duration) error {
	if err := s.check("wait_ready"); err != nil {
		return err
	}
	return s.c.WaitReady(ctx, s.id, timeout)
}

// Delete removes the sandbox now, whatever Keep says, and closes s.
func (s *Sandbox) Delete(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed("delete on sandbox " + quoteShort(s.id))
	}
	s.closed = true
	s.mu.Unlock()
	return s.c.Delete(ctx, s.id)
}

// Close deletes the sandbox unless it is kept. It is idempotent: only the
// first call does anything. A sandbox that is already gone (expired, or
// deleted elsewhere) is not an error.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	keep := s.keep
	s.mu.Unlock()
	if keep {
		return nil
	}
	// Bounded, so Close never hangs on an unreachable backend for longer
	// than the client's own timeouts.
	err := s.c.Delete(context.Background(), s.id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}
