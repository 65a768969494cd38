package noxrunner

/*
#include <stdlib.h>
#include <noxrunner/noxrunner.h>
*/
import "C"

import (
	"context"
	"io"
	"io/fs"
	"os"
	"runtime"
	"unsafe"
)

// File is one regular file to upload.
type File struct {
	// Path is relative to the destination, "dir/a.txt"; absolute paths,
	// ".." and duplicates are refused with ErrInvalid.
	Path string
	// Data is the file's content.
	Data []byte
	// Mode holds the permission bits; 0 means 0644.
	Mode fs.FileMode
}

// bytePtr points C at a Go byte slice for the length of one call; the
// memory holds no Go pointers, so cgo allows it.
func bytePtr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b)))
}

// Upload writes files into dest in the sandbox ("" means /workspace),
// creating dest and its parents.
func (c *Client) Upload(ctx context.Context, sessionID string, files []File, dest string) error {
	var set *C.nox_files
	var cerr *C.nox_error
	if rc := C.nox_files_new(&set, &cerr); rc != 0 {
		return takeError(rc, cerr)
	}
	defer C.nox_files_free(set)
	for _, f := range files {
		var a cstrs
		path := a.str(f.Path)
		if a.err != nil {
			a.free()
			return a.err
		}
		rc := C.nox_files_add(set, path, bytePtr(f.Data), C.size_t(len(f.Data)),
			C.uint32_t(f.Mode.Perm()), &cerr)
		runtime.KeepAlive(f.Data)
		a.free()
		if err := takeError(rc, cerr); err != nil {
			return err
		}
	}
	return c.destCall(ctx, "upload", sessionID, dest, func(p *C.nox_client, sid, d *C.char, cerr **C.nox_error) C.int {
		return C.nox_upload(p, sid, set, d, cerr)
	})
}

// UploadDir uploads the tree under localDir (its contents, not the
// directory itself) into dest ("" means /workspace). Symlinks travel as
// symlinks; special files are refused.
func (c *Client) UploadDir(ctx context.Context, sessionID, localDir, dest string) error {
	var a cstrs
	defer a.free()
	dir := a.str(localDir)
	if a.err != nil {
		return a.err
	}
	return c.destCall(ctx, "upload", sessionID, dest, func(p *C.nox_client, sid, d *C.char, cerr **C.nox_error) C.int {
		return C.nox_upload_dir(p, sid, dir, d, cerr)
	})
}

// UploadTarGz uploads a ready tar.gz archive and extracts it into dest
// ("" means /workspace). A malicious archive (absolute names, "..",
// links out) is refused with ErrArchive.
func (c *Client) UploadTarGz(ctx context.Context, sessionID string, targz []byte, dest string) error {
	err := c.destCall(ctx, "upload", sessionID, dest, func(p *C.nox_client, sid, d *C.char, cerr **C.nox_error) C.int {
		return C.nox_upload_targz(p, sid, bytePtr(targz), C.size_t(len(targz)), d, cerr)
	})
	runtime.KeepAlive(targz)
	return err
}

// UploadTarGzFrom uploads a tar.gz archive read from r until EOF, without
// holding it all in memory.
func (c *Client) UploadTarGzFrom(ctx context.Context, sessionID string, r io.Reader, dest string) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return &Error{Code: CodeIO, Message: "upload: " + err.Error()}
	}
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(pw, r)
		pw.Close()
		copied <- err
	}()
	fd := C.int(pr.Fd())
	err = c.destCall(ctx, "upload", sessionID, dest, func(p *C.nox_client, sid, d *C.char, cerr **C.nox_error) C.int {
		return C.nox_upload_targz_fd(p, sid, fd, d, cerr)
	})
	// Closing the read end makes a writer still blocked fail with EPIPE.
	pr.Close()
	cerr := <-copied
	if err == nil && cerr != nil {
		err = &Error{Code: CodeIO, Message: "upload: reading the archive: " + cerr.Error()}
	}
	return err
}

// Download returns everything under src in the sandbox ("" means
// /workspace) as tar.gz bytes, with names relative to src.
func (c *Client) Download(ctx context.Context, sessionID, src string) ([]byte, error) {
	var out *C.nox_bytes
	err := c.destCall(ctx, "download", sessionID, src, func(p *C.nox_client, sid, s *C.char, cerr **C.nox_error) C.int {
		return C.nox_download(p, sid, s, &out, cerr)
	})
	if err != nil {
		C.nox_bytes_free(out)
		return nil, err
	}
	return takeBytes(out), nil
}

// DownloadTo writes the tar.gz archive of src ("" means /workspace) to w
// as it arrives. An error of w is returned after the download finished.
func (c *Client) DownloadTo(ctx context.Context, sessionID, src string, w io.Writer) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return &Error{Code: CodeIO, Message: "download: " + err.Error()}
	}
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(w, pr)
		if err != nil {
			// Keep draining so the library never writes into a pipe
			// nobody reads (it would block, or raise SIGPIPE).
			io.Copy(io.Discard, pr)
		}
		pr.Close()
		copied <- err
	}()
	fd := C.int(pw.Fd())
	err = c.destCall(ctx, "download", sessionID, src, func(p *C.nox_client, sid, s *C.char, cerr **C.nox_error) C.int {
		return C.nox_download_fd(p, sid, s, fd, cerr)
	})
	pw.Close()
	werr := <-copied
	if err == nil && werr != nil {
		err = &Error{Code: CodeIO, Message: "download: writing the archive: " + werr.Error()}
	}
	return err
}

// DownloadToDir downloads src ("" means /workspace) and extracts it
// safely into localDir, created if missing: absolute names, "..", links
// leaving localDir, devices and FIFOs are refused with ErrArchive.
func (c *Client) DownloadToDir(ctx context.Context, sessionID, src, localDir string) error {
	var a cstrs
	defer a.free()
	dir := a.str(localDir)
	if a.err != nil {
		return a.err
	}
	return c.destCall(ctx, "download", sessionID, src, func(p *C.nox_client, sid, s *C.char, cerr **C.nox_error) C.int {
		return C.nox_download_to_dir(p, sid, s, dir, cerr)
	})
}

// destCall runs one C call taking the client, a session id and an
// optional sandbox path (NULL for "").
func (c *Client) destCall(ctx context.Context, op, sessionID, path string,
	call func(p *C.nox_client, sid, path *C.char, cerr **C.nox_error) C.int) error {
	p, release, err := c.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer release()
	var a cstrs
	defer a.free()
	sid := a.str(sessionID)
	cpath := a.opt(path)
	if a.err != nil {
		return a.err
	}
	var cerr *C.nox_error
	rc := call(p, sid, cpath, &cerr)
	runtime.KeepAlive(c)
	return takeError(rc, cerr)
}
