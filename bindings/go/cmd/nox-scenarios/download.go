package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// archive is a downloaded tar.gz, extracted in memory.
type archive struct {
	files map[string][]byte
	modes map[string]int64
	dirs  map[string]bool
	all   map[string]bool // every member
}

// memberName strips leading "./"s and trailing "/"s.
func memberName(n string) string {
	for strings.HasPrefix(n, "./") {
		n = n[2:]
	}
	for len(n) > 1 && strings.HasSuffix(n, "/") {
		n = n[:len(n)-1]
	}
	return n
}

func readArchive(targz []byte) (*archive, error) {
	a := &archive{files: map[string][]byte{}, modes: map[string]int64{},
		dirs: map[string]bool{}, all: map[string]bool{}}
	zr, err := gzip.NewReader(bytes.NewReader(targz))
	if err != nil {
		return nil, fmt.Errorf("download is not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("download is not a tar archive: %v", err)
		}
		name := memberName(h.Name)
		if name == "" || name == "." {
			continue
		}
		a.all[name] = true
		a.modes[name] = h.Mode & 0o7777
		switch h.Typeflag {
		case tar.TypeDir:
			a.dirs[name] = true
		case tar.TypeReg, tar.TypeRegA:
			data, err := io.ReadAll(tr)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %v", name, err)
			}
			a.files[name] = data
		}
	}
	return a, nil
}

func (p *player) download(ctx context.Context, st step, expect map[string]json.RawMessage) (func() error, error) {
	sid, err := p.session(st)
	if err != nil {
		return nil, err
	}
	var src string
	if err := getOpt(st, "src", &src); err != nil {
		return nil, err
	}
	targz, err := p.c.Download(ctx, sid, src)
	if err != nil {
		return nil, err
	}
	return func() error {
		a, err := readArchive(targz)
		if err != nil {
			return err
		}
		return checkArchive(a, expect)
	}, nil
}

func checkArchive(a *archive, expect map[string]json.RawMessage) error {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	var files, filesB64, modes map[string]string
	var dirs, absent []string
	for key, dst := range map[string]any{"files": &files, "files_b64": &filesB64, "modes": &modes,
		"dirs": &dirs, "absent": &absent} {
		if err := getOpt(expect, key, dst); err != nil {
			return err
		}
	}
	for path, b64 := range filesB64 {
		data, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return badField("expect.files_b64[%q]: %v", path, err)
		}
		if files == nil {
			files = map[string]string{}
		}
		files[path] = string(data)
	}
	for path, want := range files {
		got, ok := a.files[memberName(path)]
		if !ok {
			fail("%s is not a regular file in the archive (members: %s)", path, a.list())
		} else if string(got) != want {
			fail("%s holds %s, expected %q", path, show(got), want)
		}
	}
	for path, octal := range modes {
		want, err := strconv.ParseInt(octal, 8, 64)
		if err != nil {
			return badField("expect.modes[%q]: %v", path, err)
		}
		got, ok := a.modes[memberName(path)]
		if !ok {
			fail("%s is not in the archive (members: %s)", path, a.list())
		} else if got != want { // all of 07777: setuid, setgid and sticky too
			fail("%s has mode %o, expected %o", path, got, want)
		}
	}
	for _, d := range dirs {
		if !a.dirs[memberName(d)] {
			fail("directory %s is not in the archive (members: %s)", d, a.list())
		}
	}
	for _, n := range absent {
		if a.all[memberName(n)] {
			fail("%s is in the archive", n)
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func (a *archive) list() string {
	names := make([]string, 0, len(a.all))
	for n := range a.all {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
