# The libraries NoxRunner builds against, found through pkg-config. What is
# missing stops the configure with ONE message naming the packages to
# install (Debian and Fedora names), not a CMake trace per library.
#
# Each entry: <prefix>|<pkg-config module>|<Debian package>|<Fedora package>
set(_nox_deps
  "CURL|libcurl|libcurl4-openssl-dev|libcurl-devel"
  "CJSON|libcjson|libcjson-dev|cjson-devel"
  "LIBARCHIVE|libarchive|libarchive-dev|libarchive-devel"
  "ZLIB|zlib|zlib1g-dev|zlib-devel")
if(NOX_BUILD_SERVER)
  list(APPEND _nox_deps "MHD|libmicrohttpd|libmicrohttpd-dev|libmicrohttpd-devel")
endif()

find_package(PkgConfig QUIET)
set(_nox_missing_modules "")
set(_nox_debian "")
set(_nox_fedora "")
foreach(dep IN LISTS _nox_deps)
  string(REPLACE "|" ";" parts "${dep}")
  list(GET parts 0 prefix)
  list(GET parts 1 module)
  list(GET parts 2 debian)
  list(GET parts 3 fedora)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(${prefix} QUIET IMPORTED_TARGET ${module})
  endif()
  if(NOT ${prefix}_FOUND)
    list(APPEND _nox_missing_modules ${module})
    list(APPEND _nox_debian ${debian})
    list(APPEND _nox_fedora ${fedora})
  endif()
endforeach()

if(NOT PKG_CONFIG_FOUND OR _nox_missing_modules)
  if(NOT PKG_CONFIG_FOUND)
    set(_nox_what "pkg-config (to find the libraries) and the development files of libcurl, libcjson, libarchive, zlib")
    list(APPEND _nox_debian pkg-config)
    list(APPEND _nox_fedora pkgconf-pkg-config)
  else()
    list(JOIN _nox_missing_modules ", " _nox_what)
    set(_nox_what "the development files of ${_nox_what}")
  endif()
  list(JOIN _nox_debian " " _nox_debian)
  list(JOIN _nox_fedora " " _nox_fedora)
  message(FATAL_ERROR
    "NoxRunner cannot be built: ${_nox_what} are missing.\n"
    "  Debian/Ubuntu: sudo apt-get install ${_nox_debian}\n"
    "  Fedora/RHEL:   sudo dnf install ${_nox_fedora}\n"
    "  (or scripts/install-deps.sh, which installs what a Debian host needs)")
endif()
