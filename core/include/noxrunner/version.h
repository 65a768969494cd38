/* Version of the NoxRunner headers. The loaded library's version comes
 * from nox_version_number() and may be newer. */
#ifndef NOXRUNNER_VERSION_H
#define NOXRUNNER_VERSION_H

#define NOX_VERSION_MAJOR 0
#define NOX_VERSION_MINOR 3
#define NOX_VERSION_PATCH 0
#define NOX_VERSION_STRING "0.3.0"

#endif /* NOXRUNNER_VERSION_H */
