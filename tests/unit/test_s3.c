/*
 * test_s3.c - the S3 client's presigned URLs (hand-written SigV4 query
 * signing, fcgi-app/s3.c) against signatures computed once with botocore,
 * no server: the end-to-end tests are tests/unit/s3_client.c.
 *
 * The expected signatures came from Debian's python3-botocore:
 *   creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
 *   req = AWSRequest("GET", URL + "?response-content-disposition=attachment%3B"
 *         "%20filename%3D%22a%20b.pdf%22&response-content-type=application%2Fpdf")
 *   S3SigV4QueryAuth(creds, "s3", "us-east-1", expires=600).add_auth(req)
 * with botocore.auth.datetime's clock patched to 2026-11-29T12:00:00Z
 * (1795953600), URL being http://127.0.0.1:9000/examplebucket/docs/a%20b%2Bc.pdf
 * (path style) and https://examplebucket.s3.example.com/docs/a%20b%2Bc.pdf
 * (virtual-host style).
 */
#include "config.h"
#include "log.h"
#include "s3.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

#define NOW 1795953600
#define KEY "docs/a b+c.pdf"
#define DISP "attachment; filename=\"a b.pdf\""

static char *presign(const char *endpoint, const char *path_style)
{
    setenv("S3_ENDPOINT", endpoint, 1);
    setenv("S3_REGION", "us-east-1", 1);
    setenv("S3_BUCKET", "examplebucket", 1);
    setenv("S3_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("S3_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
    setenv("S3_FORCE_PATH_STYLE", path_style, 1);
    log_set_level("error");
    if (config_load() != 0 || s3_setup() != 0)
        return NULL;
    return s3_presign_get_at(KEY, 600, DISP, "application/pdf", NOW);
}

static const char *signature(const char *url)
{
    const char *s = url ? strstr(url, "&X-Amz-Signature=") : NULL;
    return s ? s + strlen("&X-Amz-Signature=") : "";
}

TEST(presign_path_style_matches_botocore)
{
    char *url = presign("http://127.0.0.1:9000", "true");
    CHECK(url != NULL);
    CHECK(url && strncmp(url, "http://127.0.0.1:9000/examplebucket/docs/a%20b%2Bc.pdf?"
                              "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE"
                              "%2F20261129%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date="
                              "20261129T120000Z&X-Amz-Expires=600&X-Amz-SignedHeaders=host&"
                              "response-content-disposition=attachment%3B%20filename%3D%22a%20b"
                              ".pdf%22&response-content-type=application%2Fpdf&",
                         300) == 0);
    CHECK_STR(signature(url), "3eaaee2cb0bb825c02d0e9f83b01264eee29bf49f1864c1aada2904c1357a22f");
    free(url);
    s3_shutdown();
}

TEST(presign_virtual_host_style_matches_botocore)
{
    char *url = presign("https://s3.example.com/", "false");
    CHECK(url && strncmp(url, "https://examplebucket.s3.example.com/docs/a%20b%2Bc.pdf?", 56) == 0);
    CHECK_STR(signature(url), "c449ff95bca65a7ea77b3dd6060a701d305bbd3029d085c6e57faeb838a3894e");
    free(url);
    s3_shutdown();
}

TEST(presign_refuses_bad_arguments)
{
    char *url = presign("http://127.0.0.1:9000", "true");
    free(url);
    CHECK(s3_presign_get_at("", 600, NULL, NULL, NOW) == NULL);
    CHECK(s3_presign_get_at(KEY, 0, NULL, NULL, NOW) == NULL);
    CHECK(s3_presign_get_at(KEY, 7L * 86400 + 1, NULL, NULL, NOW) == NULL);
    s3_shutdown();
    CHECK(s3_presign_get_at(KEY, 600, NULL, NULL, NOW) == NULL); /* not configured */
    setenv("S3_ENDPOINT", "ftp://x", 1);
    CHECK(config_load() == 0 && s3_setup() != 0);
    setenv("S3_ENDPOINT", "http://host/path", 1);
    CHECK(config_load() == 0 && s3_setup() != 0);
}

RUN_TESTS()
