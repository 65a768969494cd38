//go:build noxrunner_static

package noxrunner

// With the noxrunner_static build tag the core is linked from
// libnoxrunner.a, so the program does not need libnoxrunner.so at run
// time. -Bstatic makes the first -lnoxrunner pick the archive (GNU ld
// applies every -L, including pkg-config's, to every -l); the core's own
// dependencies (libcurl, libcjson, libarchive, zlib) stay shared
// libraries, since distributions rarely ship static builds of all of
// curl's dependencies.
// --as-needed drops the libnoxrunner.so that pkg-config names again.
// For a fully static program, add the static dependency libraries through
// CGO_LDFLAGS (see README.md).

// #cgo LDFLAGS: -Wl,--as-needed -Wl,-Bstatic -lnoxrunner -Wl,-Bdynamic
// #cgo pkg-config: noxrunner libcurl libcjson libarchive zlib
// #cgo LDFLAGS: -lpthread -ldl
import "C"
