package noxrunner_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	noxrunner "github.com/noxrunner/noxrunner/bindings/go"
)

// untar reads a tar.gz into name -> content (regular files) and name ->
// mode.
func untar(t *testing.T, targz []byte) (map[string]string, map[string]fs.FileMode) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(targz))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	files, modes := map[string]string{}, map[string]fs.FileMode{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, modes
		}
		if err != nil {
			t.Fatalf("not tar: %v", err)
		}
		name := filepath.Clean(h.Name)
		modes[name] = fs.FileMode(h.Mode).Perm()
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files[name] = string(b)
		}
	}
}

func maketar(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(data))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestUploadDownloadRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, c *noxrunner.Client) {
		ctx := ctxT(t)
		sb := newSandbox(t, c, "s")
		bin := []byte{0, 1, 2, 0xff, 0xfe}
		err := sb.Upload(ctx, []noxrunner.File{
			{Path: "a.txt", Data: []byte("alpha\n")},
			{Path: "dir/run.sh", Data: []byte("#!/bin/sh\necho ran\n"), Mode: 0o755},
			{Path: "dir/bin.dat", Data: bin, Mode: 0o600},
			{Path: "empty", Data: nil},
		}, "")
		if err != nil {
			t.Fatalf("Upload: %v", err)
		}
		res, err := sb.Exec(ctx, []string{"/workspace/dir/run.sh"}, nil)
		if err != nil || string(res.Stdout) != "ran\n" {
			t.Errorf("running the uploaded script: %q, %v", stdout(res), err)
		}

		targz, err := sb.Download(ctx, "")
		if err != nil {
			t.Fatalf("Download: %v", err)
		}
		files, modes := untar(t, targz)
		if files["a.txt"] != "alpha\n" || files["dir/bin.dat"] != string(bin) || files["empty"] != "" {
			t.Errorf("downloaded files %q", files)
		}
		if modes["dir/run.sh"] != 0o755 || modes["dir/bin.dat"] != 0o600 {
			t.Errorf("modes %v", modes)
		}

		// Streaming variants: DownloadTo a writer, UploadTarGzFrom a reader.
		var buf bytes.Buffer
		if err := sb.DownloadTo(ctx, "/workspace/dir", &buf); err != nil {
			t.Fatalf("DownloadTo: %v", err)
		}
		if files, _ := untar(t, buf.Bytes()); files["run.sh"] == "" || len(files) != 2 {
			t.Errorf("DownloadTo of /workspace/dir: %q", files)
		}
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, more than a pipe buffer
		arch := maketar(t, map[string]string{"big.bin": string(big), "small.txt": "small"})
		if err := sb.UploadTarGzFrom(ctx, bytes.NewReader(arch), "/workspace/up"); err != nil {
			t.Fatalf("UploadTarGzFrom: %v", err)
		}
		res, err = sb.ExecShell(ctx, "wc -c < up/big.bin; cat up/small.txt", nil)
		if err != nil || string(res.Stdout) != "1048576\nsmall" {
			t.Errorf("after UploadTarGzFrom: %q, %v", stdout(res), err)
		}
		if err := sb.UploadTarGz(ctx, maketar(t, map[string]string{"x/y.txt": "y"}), "/workspace/mem"); err != nil {
			t.Fatalf("UploadTarGz: %v", err)
		}

		// Directory variants with the core's safe extraction.
		local := t.TempDir()
		if err := sb.DownloadToDir(ctx, "/workspace/mem", local); err != nil {
			t.Fatalf("DownloadToDir: %v", err)
		}
		if b, err := os.ReadFile(filepath.Join(local, "x", "y.txt")); err != nil || string(b) != "y" {
			t.Errorf("extracted x/y.txt: %q, %v", b, err)
		}
		src := t.TempDir()
		os.MkdirAll(filepath.Join(src, "sub"), 0o755)
		os.WriteFile(filepath.Join(src, "sub", "f.txt"), []byte("from dir"), 0o644)
		if err := sb.UploadDir(ctx, src, "/workspace/fromdir"); err != nil {
			t.Fatalf("UploadDir: %v", err)
		}
		res, err = sb.Exec(ctx, []string{"cat", "fromdir/sub/f.txt"}, nil)
		if err != nil || string(res.Stdout) != "from dir" {
			t.Errorf("after UploadDir: %q, %v", stdout(res), err)
		}
	})
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n > 0 {
		return 0, errors.New("disk full")
	}
	w.n += len(p)
	return len(p), nil
}

func TestDownloadToWriterErrorIsReported(t *testing.T) {
	c := newClient(t, "local")
	ctx := ctxT(t)
	sb := newSandbox(t, c, "s")
	if _, err := sb.ExecShell(ctx, "head -c 2000000 /dev/urandom > r.bin", nil); err != nil {
		t.Fatal(err)
	}
	err := sb.DownloadTo(ctx, "", &failingWriter{})
	if !errors.Is(err, noxrunner.ErrIO) {
		t.Errorf("DownloadTo a failing writer: %v, want ErrIO", err)
	}
}
