/*
 * s3list.c - libFuzzer harness: a ListObjectsV2 answer from the bucket (the
 * S3 service is outside input too) through s3_list_parse, as s3_list reads
 * it for documents.reconcile: <Contents> blocks, entity- and
 * percent-decoded keys, sizes and times, IsTruncated and its token. Every
 * object found has a key no longer than the answer, at most one per
 * <Contents>, and the page is released whole (LeakSanitizer).
 *
 * Input: the answer's body.
 */
#include "fuzz.h"
#include "s3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *xml = fz_cstr(data, size);
    size_t len = strlen(xml);
    size_t blocks = 0;
    for (const char *p = xml; (p = strstr(p, "<Contents>")) != NULL; p++)
        blocks++;
    s3_list_page page;
    s3_rc rc = s3_list_parse(xml, len, &page);
    if (rc == S3_OK) {
        FZ_CHECK(page.n <= blocks && (page.n == 0 || page.objects != NULL));
        for (size_t i = 0; i < page.n; i++)
            FZ_CHECK(page.objects[i].key != NULL && strlen(page.objects[i].key) <= len);
        FZ_CHECK(page.next_token == NULL || strlen(page.next_token) <= len);
    } else {
        FZ_CHECK(rc == S3_ERROR && page.n == 0 && page.objects == NULL && page.next_token == NULL);
    }
    s3_list_free(&page);
    free(xml);
    return 0;
}
