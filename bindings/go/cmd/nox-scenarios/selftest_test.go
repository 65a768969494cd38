package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runnerMode makes the test binary the scenario runner itself, so the
// self-test below plays scenarios through exactly this code.
const runnerMode = "NOX_SCENARIOS_RUNNER_MODE"

func TestMain(m *testing.M) {
	if os.Getenv(runnerMode) == "1" {
		os.Exit(run())
	}
	os.Exit(m.Run())
}

// Every check of this runner can fail: tests/scenarios/selftest.py plays
// expect_every_kind.json (which must pass) and copies of it with one
// expectation made wrong or one step malformed (each must fail, at that
// step).
func TestEveryCheckOfTheGoRunnerCanFail(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed to run tests/scenarios/selftest.py: %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "..", "..", "tests", "scenarios", "selftest.py"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script, self, "-backend", "local")
	cmd.Env = append(os.Environ(), runnerMode+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "broken copies failed") {
		t.Fatalf("selftest: %v\n%s", err, out)
	}
}
