package noxrunner_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	noxrunner "github.com/noxrunner/noxrunner/bindings/go"
)

// exampleClient makes a local client with its state in a fresh directory.
// The agent comes from $NOXRUNNER_AGENT (or the installed one).
func exampleClient() (*noxrunner.Client, func()) {
	dir, err := os.MkdirTemp("", "noxrunner-example-")
	if err != nil {
		log.Fatal(err)
	}
	c, err := noxrunner.New(noxrunner.WithLocal(dir))
	if err != nil {
		log.Fatal(err)
	}
	return c, func() { c.Close(); os.RemoveAll(dir) }
}

// A sandbox, one shell command, and the sandbox deleted at the end.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "noxrunner-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	c, err := noxrunner.New(noxrunner.WithLocal(dir))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	sb, err := c.Sandbox(ctx, "example-basic", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Close() // deletes the sandbox

	res, err := sb.ExecShell(ctx, "echo hello from $WHO", &noxrunner.ExecOptions{
		Env: map[string]string{"WHO": "the sandbox"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("exit %d: %s", res.ExitCode, res.Stdout)
	// Output: exit 0: hello from the sandbox
}

func ExampleClient_Exec() {
	c, done := exampleClient()
	defer done()
	ctx := context.Background()
	if _, err := c.CreateSandbox(ctx, "example-exec", nil); err != nil {
		log.Fatal(err)
	}
	defer c.Delete(ctx, "example-exec")

	// An argument vector: no shell, so $HOME stays literal.
	res, err := c.Exec(ctx, "example-exec", []string{"echo", "$HOME"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s", res.Stdout)

	// Stdin, and a timeout that kills the command.
	res, err = c.Exec(ctx, "example-exec", []string{"tr", "a-z", "A-Z"},
		&noxrunner.ExecOptions{Stdin: []byte("shout\n"), Timeout: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s", res.Stdout)
	// Output:
	// $HOME
	// SHOUT
}

// Cancelling the context kills the command in the sandbox.
func ExampleClient_Exec_cancel() {
	c, done := exampleClient()
	defer done()
	if _, err := c.CreateSandbox(context.Background(), "example-cancel", nil); err != nil {
		log.Fatal(err)
	}
	defer c.Delete(context.Background(), "example-cancel")

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := c.Exec(ctx, "example-cancel", []string{"sleep", "60"}, nil)
	fmt.Println(errors.Is(err, noxrunner.ErrTimeout), errors.Is(err, context.DeadlineExceeded))
	// Output: true true
}

func ExampleClient_ExecStream() {
	c, done := exampleClient()
	defer done()
	ctx := context.Background()
	sb, err := c.Sandbox(ctx, "example-stream", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Close()

	for ev, err := range sb.ExecStream(ctx, []string{"sh", "-c", "echo one; echo two >&2; exit 3"}, nil) {
		if err != nil {
			log.Fatal(err)
		}
		switch ev.Kind {
		case noxrunner.EventStdout, noxrunner.EventStderr:
			fmt.Printf("%s: %s", ev.Kind, ev.Data)
		case noxrunner.EventExit:
			fmt.Println("exit", ev.Result.ExitCode)
		}
	}
	// Unordered output:
	// stdout: one
	// stderr: two
	// exit 3
}

func ExampleSandbox_Upload() {
	c, done := exampleClient()
	defer done()
	ctx := context.Background()
	sb, err := c.Sandbox(ctx, "example-files", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Close()

	err = sb.Upload(ctx, []noxrunner.File{
		{Path: "main.py", Data: []byte("print('hi')\n")},
		{Path: "run.sh", Data: []byte("#!/bin/sh\nwc -l < main.py\n"), Mode: 0o755},
	}, "")
	if err != nil {
		log.Fatal(err)
	}
	res, err := sb.Exec(ctx, []string{"/workspace/run.sh"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(strings.TrimSpace(string(res.Stdout)), "\n")
	// Output: 1
}

func ExampleError() {
	c, done := exampleClient()
	defer done()
	_, err := c.Exec(context.Background(), "no-such-session", []string{"true"}, nil)

	fmt.Println(errors.Is(err, noxrunner.ErrNotFound))
	var e *noxrunner.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code)
	}
	// Output:
	// true
	// NOX_ENOTFOUND
}
