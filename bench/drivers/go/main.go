// Command bench-go times N execs of `true` in a ready sandbox through the
// Go binding and prints one JSON object (samples in microseconds), for
// bench/bench.py to compare with the same loop in C.
//
//	bench-go -n 500 -warmup 50 -home DIR -agent PATH   (local backend)
//	bench-go -n 500 -warmup 50 -url http://127.0.0.1:PORT
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	noxrunner "github.com/noxrunner/noxrunner/bindings/go"
)

func main() {
	n := flag.Int("n", 200, "timed execs")
	warmup := flag.Int("warmup", 20, "untimed execs first")
	home := flag.String("home", "", "local base directory")
	agent := flag.String("agent", "", "nox-sandbox path")
	url := flag.String("url", "", "noxrunnerd URL (HTTP backend)")
	flag.Parse()

	opts := []noxrunner.Option{noxrunner.WithLocal(*home), noxrunner.WithAgentPath(*agent)}
	backend := "local"
	if *url != "" {
		opts = []noxrunner.Option{noxrunner.WithHTTP(*url)}
		backend = "http"
	}
	ctx := context.Background()
	c, err := noxrunner.New(opts...)
	if err != nil {
		fail(err)
	}
	defer c.Close()
	sb, err := c.Sandbox(ctx, "bench-go-exec", nil)
	if err != nil {
		fail(err)
	}
	defer sb.Close()
	if err := sb.WaitReady(ctx, 30*time.Second); err != nil {
		fail(err)
	}
	argv := []string{"true"}
	for i := 0; i < *warmup; i++ {
		if _, err := sb.Exec(ctx, argv, nil); err != nil {
			fail(err)
		}
	}
	samples := make([]float64, *n)
	for i := range samples {
		t0 := time.Now()
		r, err := sb.Exec(ctx, argv, nil)
		samples[i] = float64(time.Since(t0).Nanoseconds()) / 1e3
		if err != nil {
			fail(err)
		}
		if r.ExitCode != 0 {
			fail(fmt.Errorf("exit code %d", r.ExitCode))
		}
	}
	iso, _ := c.Isolation(ctx)
	out := map[string]any{"mode": "exec", "backend": backend, "go": runtime.Version(),
		"version": noxrunner.Version(), "isolation": iso.String(), "samples_us": samples}
	json.NewEncoder(os.Stdout).Encode(out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench-go:", err)
	os.Exit(1)
}
