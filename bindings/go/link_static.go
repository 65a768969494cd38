//go:build noxrunner_static

package noxrunner

// With the noxrunner_static build tag the core is linked from
// libnoxrunner.a: -Bstatic makes the first -lnoxrunner pick the archive
// (GNU ld applies every -L to every -l, so pkg-config's -L is enough), and
// pkg-config --static adds the core's own dependencies (libcurl, libcjson,
// libarchive, pthread, dl), which stay shared libraries. --as-needed drops
// the libnoxrunner.so that pkg-config names again, so the program does not
// need it at run time.

// #cgo LDFLAGS: -Wl,--as-needed -Wl,-Bstatic -lnoxrunner -Wl,-Bdynamic
// #cgo pkg-config: --static noxrunner
import "C"
