/*
 * fuzz_http_response - what a hostile or broken server could answer: exec
 * results, sandbox objects and error bodies are parsed or refused with
 * NOX_EPROTOCOL, never crash, and output caps hold.
 */
#include "http/http.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nox_exec_result *r = NULL;
    nox_error *err = NULL;
    uint64_t cap = size ? data[0] * 16u : 0;
    if (nox__http_parse_exec_result(data, size, cap, &r, &err) == 0) {
        size_t n = 0;
        (void)nox_exec_result_stdout(r, &n);
        if (cap && n > cap)
            abort(); /* the output cap did not hold */
        nox_exec_result_free(r);
    }
    nox_error_free(err);
    err = NULL;
    cJSON *j = NULL;
    if (nox__http_parse_json(data, size, "sandbox", &j, &err) == 0) {
        nox_sandbox_info *info = NULL;
        nox_error *e2 = NULL;
        if (nox__http_parse_sandbox(j, NULL, &info, &e2) == 0)
            nox_sandbox_info_free(info);
        nox_error_free(e2);
        cJSON_Delete(j);
    }
    nox_error_free(err);
    (void)nox__http_error_code_field(data, size);
    char text[256];
    nox__http_error_text(data, size, text, sizeof text);
    if (strlen(text) >= sizeof text)
        abort();
    return 0;
}
