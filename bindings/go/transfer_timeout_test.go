package noxrunner_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	noxrunner "github.com/noxrunner/noxrunner/bindings/go"
)

// tricklePeer answers a download on 127.0.0.1 with its headers and then one
// byte every 200 ms; it gives up by itself after 10 s.
func tricklePeer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(10 * time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for time.Now().Before(end) {
			ln.(*net.TCPListener).SetDeadline(time.Now().Add(100 * time.Millisecond))
			conn, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return // the test is over
			}
			if err != nil {
				continue
			}
			conn.SetDeadline(end)
			req, err := http.ReadRequest(bufio.NewReader(conn))
			if err == nil && strings.Contains(req.URL.Path, "/files/download") {
				fmt.Fprint(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\n"+
					"Content-Length: 1000000\r\n\r\n")
				for time.Now().Before(end) {
					if _, err := conn.Write([]byte("x")); err != nil {
						break
					}
					time.Sleep(200 * time.Millisecond)
				}
			} else if err == nil {
				fmt.Fprint(conn, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"+
					"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
			}
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return "http://" + ln.Addr().String()
}

func TestWithTransferTimeoutBoundsATrickledDownload(t *testing.T) {
	t.Setenv("http_proxy", "")
	t.Setenv("HTTP_PROXY", "")
	url := tricklePeer(t)
	// The idle limit (2 s) never fires: a byte comes every 200 ms.
	c, err := noxrunner.New(noxrunner.WithHTTP(url), noxrunner.WithMaxRetries(0),
		noxrunner.WithTimeouts(0, 2*time.Second),
		noxrunner.WithTransferTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t0 := time.Now()
	_, err = c.Download(context.Background(), "s", "")
	took := time.Since(t0)
	if !errors.Is(err, noxrunner.ErrTimeout) {
		t.Fatalf("Download: %v, want ErrTimeout", err)
	}
	if !strings.Contains(err.Error(), "within 1000 ms (transfer_timeout_ms)") {
		t.Fatalf("error does not name the deadline: %v", err)
	}
	if took < 900*time.Millisecond || took > 5*time.Second {
		t.Fatalf("Download took %v, want about 1 s", took)
	}
}
