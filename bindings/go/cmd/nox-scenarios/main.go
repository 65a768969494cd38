// Command nox-scenarios plays every tests/scenarios/*.json through the Go
// binding, against the local backend and against a noxrunnerd it starts on
// a free loopback port, and prints one summary line per backend:
//
//	go-local: 78 passed, 0 failed
//	go-http: 78 passed, 0 failed
//
// It reads NOXRUNNERD, NOXRUNNER_AGENT and NOX_SCENARIOS (see
// tests/scenarios/README.md) and exits 1 when any scenario failed,
// printing the scenario, the step index and what differed for each
// failure.
//
// Flags: -backend local|http|both, -run REGEXP (scenario names),
// -v (print every scenario).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	noxrunner "github.com/noxrunner/noxrunner/bindings/go"
	"github.com/noxrunner/noxrunner/bindings/go/internal/noxtest"
)

func main() {
	os.Exit(run())
}

func run() int {
	backendFlag := flag.String("backend", "both", "local, http or both")
	runFlag := flag.String("run", "", "only scenarios whose name matches this regexp")
	verbose := flag.Bool("v", false, "print every scenario")
	flag.Parse()

	dir := os.Getenv("NOX_SCENARIOS")
	if dir == "" {
		fmt.Fprintln(os.Stderr, "nox-scenarios: NOX_SCENARIOS is not set (the tests/scenarios directory)")
		return 2
	}
	serverPath, agent, err := noxtest.Paths()
	if err != nil {
		fmt.Fprintln(os.Stderr, "nox-scenarios:", err)
		return 2
	}
	var filter *regexp.Regexp
	if *runFlag != "" {
		if filter, err = regexp.Compile(*runFlag); err != nil {
			fmt.Fprintln(os.Stderr, "nox-scenarios: -run:", err)
			return 2
		}
	}
	scenarios, err := loadAll(dir, filter)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nox-scenarios:", err)
		return 2
	}

	var backends []string
	switch *backendFlag {
	case "both":
		backends = []string{"local", "http"}
	case "local", "http":
		backends = []string{*backendFlag}
	default:
		fmt.Fprintln(os.Stderr, "nox-scenarios: -backend must be local, http or both")
		return 2
	}

	failed := false
	var summary []string
	for _, b := range backends {
		pass, fail, err := runBackend(b, serverPath, agent, scenarios, *verbose)
		if err != nil {
			fmt.Fprintf(os.Stderr, "go-%s: %v\n", b, err)
			fail = len(scenarios) - pass
		}
		if fail > 0 {
			failed = true
		}
		line := fmt.Sprintf("go-%s: %d passed, %d failed", b, pass, fail)
		summary = append(summary, line)
		fmt.Println(line)
	}
	if failed {
		return 1
	}
	return 0
}

// scenario is one parsed file; a file that does not parse becomes a
// scenario with loadErr set, which fails on every backend.
type scenario struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Backends    []string          `json:"backends"`
	Steps       []json.RawMessage `json:"steps"`
	file        string
	loadErr     error
}

func loadAll(dir string, filter *regexp.Regexp) ([]*scenario, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.json scenario in %s", dir)
	}
	var out []*scenario
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), ".json")
		if filter != nil && !filter.MatchString(base) {
			continue
		}
		sc := &scenario{Name: base, file: f}
		data, err := os.ReadFile(f)
		if err == nil {
			err = strictUnmarshal(data, sc, "name", "description", "backends", "steps")
		}
		if err != nil {
			sc.loadErr = fmt.Errorf("%s: %v", f, err)
		} else if sc.Name != base {
			sc.loadErr = fmt.Errorf("%s: name %q differs from the file name", f, sc.Name)
		} else if len(sc.Steps) == 0 {
			sc.loadErr = fmt.Errorf("%s: no steps", f)
		}
		for _, b := range sc.Backends {
			if b != "local" && b != "http" {
				sc.loadErr = fmt.Errorf("%s: unknown backend %q", f, b)
			}
		}
		out = append(out, sc)
	}
	return out, nil
}

// strictUnmarshal decodes data into v after checking that the object has
// no key outside known: a runner must fail what it cannot play.
func strictUnmarshal(data []byte, v any, known ...string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	for k := range m {
		if !contains(known, k) {
			return fmt.Errorf("unknown field %q", k)
		}
	}
	return json.Unmarshal(data, v)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (sc *scenario) runsOn(backend string) bool {
	return len(sc.Backends) == 0 || contains(sc.Backends, backend)
}

func runBackend(backend, serverPath, agent string, scenarios []*scenario, verbose bool) (pass, fail int, err error) {
	clientDir, err := os.MkdirTemp("", "nox-go-scen-local-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(clientDir)

	var client *noxrunner.Client
	switch backend {
	case "local":
		client, err = noxrunner.New(noxrunner.WithLocal(clientDir), noxrunner.WithAgentPath(agent))
	case "http":
		serverDir, derr := os.MkdirTemp("", "nox-go-scen-server-")
		if derr != nil {
			return 0, 0, derr
		}
		defer os.RemoveAll(serverDir)
		srv, serr := noxtest.Start(serverPath, agent, serverDir)
		if serr != nil {
			return 0, 0, serr
		}
		defer func() {
			if serr := srv.Stop(); serr != nil {
				fmt.Fprintf(os.Stderr, "go-http: noxrunnerd did not stop cleanly: %v\n", serr)
			}
		}()
		client, err = noxrunner.New(noxrunner.WithHTTP(srv.URL))
	}
	if err != nil {
		return 0, 0, err
	}
	defer client.Close()

	for _, sc := range scenarios {
		if !sc.runsOn(backend) {
			// Limited to the other backend by its own description: not
			// something this backend plays, so neither passed nor failed.
			if verbose {
				fmt.Printf("  skip go-%s %s (backends: %v)\n", backend, sc.Name, sc.Backends)
			}
			continue
		}
		start := time.Now()
		ferr := playScenario(client, backend, sc)
		if ferr != nil {
			fail++
			fmt.Printf("FAIL go-%s %s: %v\n", backend, sc.Name, ferr)
		} else {
			pass++
			if verbose {
				fmt.Printf("  ok   go-%s %s (%s)\n", backend, sc.Name, time.Since(start).Round(time.Millisecond))
			}
		}
	}
	return pass, fail, nil
}

// playScenario runs every step and deletes every session it touched.
func playScenario(c *noxrunner.Client, backend string, sc *scenario) (err error) {
	if sc.loadErr != nil {
		return sc.loadErr
	}
	p := &player{
		c:        c,
		prefix:   fmt.Sprintf("go-%s-%d-%s-", backend, os.Getpid(), sc.Name),
		sessions: map[string]bool{},
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("runner panic: %v", r)
		}
		for sid := range p.sessions {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_ = c.Delete(ctx, sid)
			cancel()
		}
	}()
	for i, raw := range sc.Steps {
		if err := p.step(raw); err != nil {
			return fmt.Errorf("step %d: %v", i, err)
		}
	}
	return nil
}
