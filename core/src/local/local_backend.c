/* Placeholder until the local backend lands (being written now). */
#include "internal.h"
int nox__local_backend_new(const nox__config *cfg, const nox__backend_ops **ops,
                           void **impl, nox_error **err) {
    (void)cfg; (void)ops; (void)impl;
    return nox__err(err, NOX_EUNSUPPORTED, "local backend not built yet");
}
