#!/bin/sh
# Print what this host can run, as NOX_REQUIRE wants it (a comma list of
# namespaces, cgroups, nobody): `make test` sets NOX_REQUIRE to this, so a
# suite that CI must run and that was skipped on a host able to run it is
# a failure, not a quiet pass. Only as root (CI runs as root): elsewhere
# nothing is required and skips stay skips.
[ "$(id -u)" -eq 0 ] || exit 0
have=""
add() { have="${have:+$have,}$1"; }
if unshare --user --map-root-user --mount --pid --fork true 2>/dev/null; then
  add namespaces
fi
for d in /sys/fs/cgroup /sys/fs/cgroup/unified /sys/fs/cgroup/memory; do
  if [ -d "$d" ] && mkdir "$d/nox-require-$$" 2>/dev/null; then
    rmdir "$d/nox-require-$$"
    add cgroups
    break
  fi
done
if command -v setpriv >/dev/null &&
   setpriv --reuid=65534 --regid=65534 --clear-groups -- \
     unshare --user --map-root-user true 2>/dev/null; then
  add nobody
fi
echo "$have"
