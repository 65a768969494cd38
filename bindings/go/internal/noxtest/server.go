// Package noxtest starts a real noxrunnerd for tests and the scenario
// runner. It does not import the binding, so the binding's own tests can
// use it.
package noxtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is a running noxrunnerd.
type Server struct {
	// URL is the base URL the server reported, "http://127.0.0.1:PORT".
	URL string

	cmd  *exec.Cmd
	done chan struct{}
	werr error

	mu  sync.Mutex
	log bytes.Buffer // last output lines, for diagnostics
}

// Paths returns $NOXRUNNERD and $NOXRUNNER_AGENT, or an error naming the
// variable that is missing.
func Paths() (server, agent string, err error) {
	server, agent = os.Getenv("NOXRUNNERD"), os.Getenv("NOXRUNNER_AGENT")
	if server == "" {
		return "", "", errors.New("NOXRUNNERD is not set (path of the noxrunnerd binary)")
	}
	if agent == "" {
		return "", "", errors.New("NOXRUNNER_AGENT is not set (path of the nox-sandbox agent)")
	}
	return server, agent, nil
}

// Start runs `server --port 0 --base-dir baseDir --agent agent` and waits
// for its first stdout line, "noxrunnerd listening on http://HOST:PORT".
func Start(server, agent, baseDir string, extra ...string) (*Server, error) {
	args := append([]string{"--port", "0", "--base-dir", baseDir, "--agent", agent}, extra...)
	cmd := exec.Command(server, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s := &Server{cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = (*logWriter)(s)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", server, err)
	}
	first := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		first <- strings.TrimSpace(line)
		// Keep draining: a server blocked on a full pipe would hang.
		io.Copy((*logWriter)(s), r)
	}()
	go func() {
		s.werr = cmd.Wait()
		close(s.done)
	}()
	const prefix = "noxrunnerd listening on "
	select {
	case line := <-first:
		if !strings.HasPrefix(line, prefix) {
			s.Stop()
			return nil, fmt.Errorf("noxrunnerd said %q, expected %q...; log:\n%s", line, prefix, s.Log())
		}
		s.URL = strings.TrimPrefix(line, prefix)
	case <-time.After(20 * time.Second):
		s.Stop()
		return nil, fmt.Errorf("noxrunnerd did not report its address within 20 s; log:\n%s", s.Log())
	}
	return s, nil
}

// Stop sends SIGTERM, waits up to 15 s for a clean exit, then kills.
// It returns an error when the server did not exit cleanly.
func (s *Server) Stop() error {
	select {
	case <-s.done:
		return s.werr
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return s.werr
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return errors.New("noxrunnerd did not exit within 15 s of SIGTERM")
	}
}

// Log returns the server's recent output (stderr and stdout after the
// first line).
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// logWriter keeps the tail of the server's output in Server.log.
type logWriter Server

// Write appends p to the log, dropping the oldest bytes beyond 256 KiB.
func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.log.Write(p)
	if over := w.log.Len() - 256<<10; over > 0 {
		w.log.Next(over) // keep the tail
	}
	return len(p), nil
}
