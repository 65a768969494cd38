package noxrunner

/*
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
*/
import "C"

import (
	"math"
	"strconv"
	"strings"
	"unsafe"
)

// goBytes copies n bytes of C memory into a new Go slice.
func goBytes(p unsafe.Pointer, n C.size_t) []byte {
	if p == nil || n == 0 {
		return []byte{}
	}
	if uint64(n) <= math.MaxInt32 {
		return C.GoBytes(p, C.int(n))
	}
	out := make([]byte, int(n))
	copy(out, unsafe.Slice((*byte)(p), int(n)))
	return out
}

// cstrs is a set of C allocations freed together after a call. A string
// holding a NUL byte cannot reach C intact; the first one is remembered in
// err, which the caller checks before making the call.
type cstrs struct {
	ptrs []unsafe.Pointer
	err  error
}

// str returns a C copy of s.
func (a *cstrs) str(s string) *C.char {
	if a.err == nil && strings.IndexByte(s, 0) >= 0 {
		a.err = &Error{Code: CodeInvalid, Message: "string " + quoteShort(s) + " contains a NUL byte"}
	}
	p := C.CString(s)
	a.ptrs = append(a.ptrs, unsafe.Pointer(p))
	return p
}

// opt returns NULL for "" and a C copy of s otherwise: the C API uses
// NULL for "not given".
func (a *cstrs) opt(s string) *C.char {
	if s == "" {
		return nil
	}
	return a.str(s)
}

// bytes returns a C copy of b (NULL for empty b).
func (a *cstrs) bytes(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	p := C.CBytes(b)
	a.ptrs = append(a.ptrs, p)
	return (*C.uint8_t)(p)
}

// strv returns a NULL-terminated C array of C copies of ss.
func (a *cstrs) strv(ss []string) **C.char {
	size := C.size_t(unsafe.Sizeof((*C.char)(nil)))
	arr := (**C.char)(C.calloc(C.size_t(len(ss)+1), size))
	a.ptrs = append(a.ptrs, unsafe.Pointer(arr))
	v := unsafe.Slice(arr, len(ss)+1)
	for i, s := range ss {
		v[i] = a.str(s)
	}
	v[len(ss)] = nil
	return arr
}

// free releases every allocation.
func (a *cstrs) free() {
	for _, p := range a.ptrs {
		C.free(p)
	}
	a.ptrs = nil
}

// quoteShort quotes s for a message, cut to a readable length.
func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}
