//go:build !noxrunner_static

package noxrunner

// Link libnoxrunner.so as pkg-config describes it. Point PKG_CONFIG_PATH
// at <prefix>/lib/pkgconfig for a non-system install, and LD_LIBRARY_PATH
// (or an rpath) at <prefix>/lib when running.

// #cgo pkg-config: noxrunner
import "C"
