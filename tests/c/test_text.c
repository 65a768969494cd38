/*
 * test_text.c - the one Base64 codec and the one UTF-8 validator
 * (core/src/base/text.h) that the library and noxrunnerd share, and the
 * HTTP client's use of them.
 */
#include <errno.h>
#include <stdlib.h>

#include "base/text.h"
#include "http/http.h"
#include "nox_test.h"

/* Encode s, compare with want, decode want back, compare with s. */
static int round_trip(const char *s, const char *want) {
    size_t n = strlen(s);
    char *enc = nox__base64_encode((const uint8_t *)s, n);
    int ok = enc && strcmp(enc, want) == 0 &&
             nox__base64_encoded_len(n) == strlen(want);
    free(enc);
    uint8_t out[64];
    size_t got = 0;
    ok = ok && nox__base64_decoded_max(strlen(want)) <= sizeof out &&
         nox__base64_decode(want, strlen(want), out, &got) == 0 && got == n &&
         memcmp(out, s, n) == 0;
    if (!ok)
        nt_fail(__FILE__, __LINE__, "\"%s\" <-> \"%s\" does not round-trip", s, want);
    return ok;
}

static int decodes(const char *b64, const char *want) {
    uint8_t out[64];
    size_t got = 0;
    return nox__base64_decode(b64, strlen(b64), out, &got) == 0 && got == strlen(want) &&
           memcmp(out, want, got) == 0;
}

static int rejected(const char *b64) {
    uint8_t out[64];
    size_t got = 0;
    return nox__base64_decode(b64, strlen(b64), out, &got) == -EINVAL;
}

NT_TEST(base64_matches_the_rfc4648_vectors) {
    /* RFC 4648, section 10. */
    NT_CHECK(round_trip("", ""));
    NT_CHECK(round_trip("f", "Zg=="));
    NT_CHECK(round_trip("fo", "Zm8="));
    NT_CHECK(round_trip("foo", "Zm9v"));
    NT_CHECK(round_trip("foob", "Zm9vYg=="));
    NT_CHECK(round_trip("fooba", "Zm9vYmE="));
    NT_CHECK(round_trip("foobar", "Zm9vYmFy"));
    /* The last two characters of the standard alphabet. */
    NT_CHECK(round_trip("\xfb\xff", "+/8="));
}

NT_TEST(base64_round_trips_every_byte_value) {
    uint8_t all[256], back[256 + 3];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    for (size_t len = 0; len <= 256; len += 37) {
        char *enc = nox__base64_encode(all + 256 - len, len);
        NT_CHECK(enc != NULL);
        size_t got = 0;
        int rc = nox__base64_decode(enc, strlen(enc), back, &got);
        free(enc);
        NT_CHECK_INT(rc, 0);
        NT_CHECK_INT(got, len);
        NT_CHECK(memcmp(back, all + 256 - len, len) == 0);
    }
}

NT_TEST(base64_padding_may_be_left_out) {
    NT_CHECK(decodes("Zg", "f"));
    NT_CHECK(decodes("Zm8", "fo"));
    NT_CHECK(decodes("Zm9vYg", "foob"));
}

NT_TEST(base64_rejects_what_is_not_standard_base64) {
    /* The URL-safe alphabet (RFC 4648 section 5) is a different encoding:
     * the wire contract's *Base64 fields use section 4 only. */
    NT_CHECK(rejected("-_8="));
    NT_CHECK(rejected("Zm9v-w=="));
    NT_CHECK(rejected("Z"));         /* 6 bits: no encoding ends so */
    NT_CHECK(rejected("Zm9vY"));
    NT_CHECK(rejected("Zg="));       /* padding that does not fill the group */
    NT_CHECK(rejected("Zg==="));     /* too much padding */
    NT_CHECK(rejected("Zm9v===="));
    NT_CHECK(rejected("Zg==Zg=="));  /* padding in the middle */
    NT_CHECK(rejected("Zm9v!"));
    NT_CHECK(rejected(" Zg=="));     /* no whitespace */
    NT_CHECK(rejected("Zm9v\nYmFy"));
    NT_CHECK(rejected("Zm\x009v"));
}

static int valid(const char *s) { return nox__utf8_valid((const uint8_t *)s, strlen(s)); }

NT_TEST(utf8_accepts_every_boundary_of_the_standard) {
    NT_CHECK(valid(""));
    NT_CHECK(valid("plain ascii"));
    NT_CHECK(valid("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
    NT_CHECK(valid("\xc2\x80"));             /* U+0080 */
    NT_CHECK(valid("\xdf\xbf"));             /* U+07FF */
    NT_CHECK(valid("\xe0\xa0\x80"));         /* U+0800 */
    NT_CHECK(valid("\xed\x9f\xbf"));         /* U+D7FF, before the surrogates */
    NT_CHECK(valid("\xee\x80\x80"));         /* U+E000, after them */
    NT_CHECK(valid("\xef\xbf\xbf"));         /* U+FFFF */
    NT_CHECK(valid("\xf0\x90\x80\x80"));     /* U+10000 */
    NT_CHECK(valid("\xf4\x8f\xbf\xbf"));     /* U+10FFFF */
    /* An embedded NUL is a valid character. */
    NT_CHECK(nox__utf8_valid((const uint8_t *)"a\0b", 3));
}

NT_TEST(utf8_rejects_overlong_surrogate_truncated_and_out_of_range) {
    NT_CHECK(!valid("\xc0\xaf"));            /* overlong '/' */
    NT_CHECK(!valid("\xc1\xbf"));
    NT_CHECK(!valid("\xe0\x80\xaf"));
    NT_CHECK(!valid("\xe0\x9f\xbf"));        /* overlong U+07FF */
    NT_CHECK(!valid("\xf0\x80\x80\xaf"));
    NT_CHECK(!valid("\xf0\x8f\xbf\xbf"));    /* overlong U+FFFF */
    NT_CHECK(!valid("\xed\xa0\x80"));        /* U+D800 */
    NT_CHECK(!valid("\xed\xbf\xbf"));        /* U+DFFF */
    NT_CHECK(!valid("\xed\xa0\xbd\xed\xb8\x80")); /* a CESU-8 surrogate pair */
    NT_CHECK(!valid("\xf4\x90\x80\x80"));    /* U+110000 */
    NT_CHECK(!valid("\xf5\x80\x80\x80"));
    NT_CHECK(!valid("\xff"));
    NT_CHECK(!valid("\x80"));                /* a lone continuation byte */
    NT_CHECK(!valid("a\xc3"));               /* truncated, at the end */
    NT_CHECK(!valid("\xe2\x82"));
    NT_CHECK(!valid("\xf0\x9f\x98"));
    NT_CHECK(!valid("\xe2\x82x"));           /* truncated, mid-text */
}

NT_TEST(utf8_maximal_subpart_is_what_one_replacement_covers) {
    size_t sub = 0;
    NT_CHECK_INT(nox__utf8_seq((const uint8_t *)"\xe2\x82x", 3, &sub), 0);
    NT_CHECK_INT(sub, 2);
    NT_CHECK_INT(nox__utf8_seq((const uint8_t *)"\xf0\x9f\x98", 3, &sub), 0);
    NT_CHECK_INT(sub, 3);
    NT_CHECK_INT(nox__utf8_seq((const uint8_t *)"\xed\xa0\x80", 3, &sub), 0);
    NT_CHECK_INT(sub, 1); /* a surrogate's lead byte stands alone */
    NT_CHECK_INT(nox__utf8_seq((const uint8_t *)"\xc0\xaf", 2, &sub), 0);
    NT_CHECK_INT(sub, 1);
    NT_CHECK_INT(nox__utf8_seq((const uint8_t *)"\xe2\x82\xac", 3, &sub), 3);
    NT_CHECK_INT(nox__utf8_seq((const uint8_t *)"\xe2\x82\xac", 3, NULL), 3);
}

static size_t tail(const char *s) {
    return nox__utf8_incomplete_tail((const uint8_t *)s, strlen(s));
}

NT_TEST(utf8_incomplete_tail_holds_back_only_a_completable_start) {
    NT_CHECK_INT(tail(""), 0);
    NT_CHECK_INT(tail("ab"), 0);
    NT_CHECK_INT(tail("ab\xc3"), 1);
    NT_CHECK_INT(tail("ab\xe2\x82"), 2);
    NT_CHECK_INT(tail("ab\xf0\x9f\x98"), 3);
    NT_CHECK_INT(tail("ab\xe2\x82\xac"), 0);   /* complete */
    NT_CHECK_INT(tail("a\xed\xa0"), 0);        /* a surrogate never completes */
    NT_CHECK_INT(tail("a\xc0"), 0);            /* nor does an overlong lead */
    NT_CHECK_INT(tail("\x80\x80\x80"), 0);
}

static char *quoted(const char *s, size_t n) {
    nox__buf b = {0};
    if (nox__http_json_quote(&b, (const uint8_t *)s, n) != 0) {
        nox__buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

NT_TEST(http_request_text_replaces_each_maximal_subpart_once) {
    /* As the server writes its answers and Python's errors="replace"
     * reads: a truncated euro sign is one U+FFFD, two bad bytes two. */
    char *q = quoted("\xe2\x82-\xff\xfe \xe2\x82\xac\0", 10);
    NT_CHECK(q != NULL);
    int same = strcmp(q, "\"\\ufffd-\\ufffd\\ufffd \xe2\x82\xac\\u0000\"") == 0;
    if (!same)
        nt_fail(__FILE__, __LINE__, "quoted as %s", q);
    free(q);
}

NT_TEST(http_client_rejects_url_safe_base64_from_a_server) {
    cJSON *o = cJSON_Parse("{\"stdoutBase64\":\"-_8=\",\"stderrBase64\":\"+/8=\"}");
    NT_CHECK(o != NULL);
    nox__buf b = {0};
    nox_error *err = NULL;
    int found = 0;
    int rc = nox__http_json_bytes(o, "stderr", &b, &found, &err);
    int good = rc == 0 && found && b.len == 2 && b.data[0] == 0xfb && b.data[1] == 0xff;
    b.len = 0;
    int bad = nox__http_json_bytes(o, "stdout", &b, &found, &err);
    cJSON_Delete(o);
    nox__buf_free(&b);
    NT_CHECK(good);
    NT_CHECK_INT(bad, NOX_EPROTOCOL);
    NT_CHECK(strstr(nox_error_message(err), "stdoutBase64") != NULL);
    nox_error_free(err);
}

int main(void) {
    NT_RUN(base64_matches_the_rfc4648_vectors);
    NT_RUN(base64_round_trips_every_byte_value);
    NT_RUN(base64_padding_may_be_left_out);
    NT_RUN(base64_rejects_what_is_not_standard_base64);
    NT_RUN(utf8_accepts_every_boundary_of_the_standard);
    NT_RUN(utf8_rejects_overlong_surrogate_truncated_and_out_of_range);
    NT_RUN(utf8_maximal_subpart_is_what_one_replacement_covers);
    NT_RUN(utf8_incomplete_tail_holds_back_only_a_completable_start);
    NT_RUN(http_request_text_replaces_each_maximal_subpart_once);
    NT_RUN(http_client_rejects_url_safe_base64_from_a_server);
    return nt_main_end();
}
