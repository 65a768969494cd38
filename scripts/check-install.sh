#!/usr/bin/env bash
# Install into a scratch prefix and use it the way a C user would: the
# conventional layout, pkg-config, find_package(noxrunner), and a program
# that runs a command in a local sandbox through the installed agent.
set -euo pipefail
build=${1:-build}
src=$(cd "$(dirname "$0")/.." && pwd)
prefix=$(mktemp -d)
work=$(mktemp -d)
trap 'rm -rf "$prefix" "$work"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null

for f in include/noxrunner/noxrunner.h include/noxrunner/version.h lib/libnoxrunner.a \
         lib/pkgconfig/noxrunner.pc lib/cmake/noxrunner/noxrunnerConfig.cmake \
         bin/noxrunnerd bin/noxrunner-mcp libexec/noxrunner/nox-sandbox; do
  [ -e "$prefix/$f" ] || { echo "check-install: $f missing" >&2; exit 1; }
done
# The manual pages: there, and rendered by man without a warning; the
# library's lists every NOX_E* code of the header.
for page in share/man/man1/noxrunnerd.1 share/man/man3/noxrunner.3; do
  [ -e "$prefix/$page" ] || { echo "check-install: $page missing" >&2; exit 1; }
  warn=$(MANWIDTH=80 man --warnings -l "$prefix/$page" 2>&1 >/dev/null)
  [ -z "$warn" ] || { echo "check-install: man $page: $warn" >&2; exit 1; }
done
for code in $(grep -oE '^#define NOX_E[A-Z]+ ' "$prefix/include/noxrunner/noxrunner.h" | cut -d' ' -f2); do
  grep -q "^\.B $code\$" "$prefix/share/man/man3/noxrunner.3" \
    || { echo "check-install: noxrunner(3) does not list $code" >&2; exit 1; }
done
soname=$(objdump -p "$prefix/lib/libnoxrunner.so" | awk '/SONAME/ {print $2}')
[ "$soname" = "libnoxrunner.so.1" ] || { echo "check-install: SONAME is '$soname'" >&2; exit 1; }

cat > "$work/use.c" <<'C'
#include <noxrunner/noxrunner.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    if (nox_abi_version() != NOX_ABI_VERSION) return 2;
    nox_client_options o;
    nox_client_options_init(&o, NOX_CLIENT_OPTIONS_VERSION);
    o.base_dir = argv[1];
    nox_client *c = NULL;
    nox_error *err = NULL;
    nox_sandbox_info *info = NULL;
    nox_exec_result *r = NULL;
    const char *cmd[] = {"sh", "-c", "echo installed-$((6*7))", NULL};
    if (nox_client_new(&c, &o, &err) || nox_sandbox_create(c, "install-check", NULL, &info, &err) ||
        nox_exec(c, "install-check", cmd, NULL, &r, &err)) {
        fprintf(stderr, "%s\n", nox_error_message(err));
        return 1;
    }
    size_t n;
    const uint8_t *out = nox_exec_result_stdout(r, &n);
    int ok = n == 13 && memcmp(out, "installed-42\n", 13) == 0;
    nox_exec_result_free(r);
    nox_sandbox_info_free(info);
    nox_sandbox_delete(c, "install-check", NULL);
    nox_client_free(c);
    printf("%s %s\n", nox_version_string(), ok ? "ok" : "wrong output");
    (void)argc;
    return ok ? 0 : 1;
}
C
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc -Wall -Werror -o "$work/use-pc" "$work/use.c" $(pkg-config --cflags --libs noxrunner)
# Runs as the README says, wherever the prefix is: the .pc puts the
# library directory in the program's RUNPATH (no LD_LIBRARY_PATH).
readelf -d "$work/use-pc" | grep -q "R.*PATH.*\[$prefix/lib" \
  || { echo "check-install: pkg-config gave no RUNPATH to $prefix/lib" >&2; exit 1; }
env -u LD_LIBRARY_PATH NOXRUNNER_AGENT= "$work/use-pc" "$work/state-pc"

# The core linked statically; its dependencies stay shared (Debian ships no
# static libcurl dependency chain).
cc -Wall -Werror -o "$work/use-static" "$work/use.c" $(pkg-config --cflags noxrunner) \
   "$prefix/lib/libnoxrunner.a" $(pkg-config --libs libcurl libcjson libarchive zlib) -lpthread -ldl
# A static program has no library directory to look beside: name the agent.
NOXRUNNER_AGENT="$prefix/libexec/noxrunner/nox-sandbox" "$work/use-static" "$work/state-static"

mkdir -p "$work/cm"
cat > "$work/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.20)
project(use C)
find_package(noxrunner REQUIRED)
add_executable(use ../use.c)
target_link_libraries(use PRIVATE noxrunner::noxrunner)
CM
cmake -S "$work/cm" -B "$work/cm/b" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cm/b" >/dev/null
env -u LD_LIBRARY_PATH "$work/cm/b/use" "$work/state-cm"
"$prefix/bin/noxrunnerd" --version >/dev/null
echo "check-install: layout, pkg-config, static link and find_package all work"
