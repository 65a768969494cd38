/* body.h - typed access to JSON request bodies (cJSON stays inside the
 * files that include this). */
#ifndef NOXRUNNERD_BODY_H
#define NOXRUNNERD_BODY_H

#include <cjson/cJSON.h>

#include "server.h"

/* Parse r's body as a JSON object (an empty body is {}). */
int body_parse(request *r, cJSON **out);
/* Absent or null leaves *out NULL; anything but a string is a 400. */
int body_string(request *r, const cJSON *obj, const char *name, const char **out);
/* Absent or null leaves *out alone (the default); anything but an integer
 * in [min, max] is a 400. */
int body_int(request *r, const cJSON *obj, const char *name, int64_t min,
             int64_t max, int64_t *out);
int body_bool(request *r, const cJSON *obj, const char *name, int *out);

/* The local client's nox_info() as parsed JSON (NULL on failure); the
 * caller frees it with cJSON_Delete(). */
cJSON *backend_info(nox_client *c);

#endif
