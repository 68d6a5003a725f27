/*
 * test_storage.c - what the API checks about an uploaded file: the type
 * allow-list, magic numbers, display names (no path may escape) and the
 * Content-Disposition built from them; and stored-name validation.
 */
#include "storage.h"
#include "test.h"

#define MAGIC(t, s, whole) storage_magic_ok(t, (const unsigned char *)(s), sizeof(s) - 1, whole)

TEST(type_allow_list)
{
    CHECK_STR(storage_type_allowed("application/pdf"), "application/pdf");
    CHECK_STR(storage_type_allowed("IMAGE/PNG"), "image/png");
    CHECK_STR(storage_type_allowed(" text/plain ; charset=utf-8"), "text/plain");
    CHECK_STR(storage_type_allowed("image/heic"), "image/heic");
    CHECK_STR(storage_type_allowed("image/webp"), "image/webp");
    CHECK_STR(storage_type_allowed("image/jpeg"), "image/jpeg");
    CHECK(storage_type_allowed("text/html") == NULL);
    CHECK(storage_type_allowed("image/svg+xml") == NULL);
    CHECK(storage_type_allowed("application/pdfx") == NULL);
    CHECK(storage_type_allowed("image/png2") == NULL);
    CHECK(storage_type_allowed("") == NULL);
    CHECK(storage_type_allowed(NULL) == NULL);
    CHECK_STR(storage_type_ext("image/jpeg"), ".jpg");
    CHECK_STR(storage_type_ext("nope"), "");
}

TEST(magic_numbers)
{
    CHECK(MAGIC("application/pdf", "%PDF-1.7\n", 1));
    CHECK(!MAGIC("application/pdf", "%PDF", 1));
    CHECK(!MAGIC("application/pdf", "\x89PNG\r\n\x1a\n", 1));
    CHECK(MAGIC("image/png", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 1));
    CHECK(!MAGIC("image/png", "\x89PNG\r\n", 1));
    CHECK(MAGIC("image/jpeg", "\xff\xd8\xff\xe0\0\x10JFIF", 1));
    CHECK(!MAGIC("image/jpeg", "\xff\xd8", 1));
    CHECK(MAGIC("image/webp", "RIFF\x24\0\0\0WEBPVP8 ", 1));
    CHECK(!MAGIC("image/webp", "RIFF\x24\0\0\0WAVEfmt ", 1));
    CHECK(MAGIC("image/heic",
                "\0\0\0\x18"
                "ftypheic\0\0\0\0",
                1));
    CHECK(MAGIC("image/heic",
                "\0\0\0\x18"
                "ftypmif1\0\0\0\0",
                1));
    CHECK(!MAGIC("image/heic",
                 "\0\0\0\x18"
                 "ftypisom\0\0\0\0",
                 1)); /* an MP4 */
    CHECK(!MAGIC("text/html", "<html>", 1));
}

/* The ftyp box's size (its first 4 bytes, big-endian) is checked too: 16
 * bytes at least, whole 4-byte brands, within the head read. Otherwise a
 * JPEG's first bytes passed for a HEIC as well (fuzz harness storage; the
 * input is tests/fuzz/corpus/storage/jpeg_heic_polyglot). */
TEST(heic_box_size_is_sane)
{
    CHECK(!MAGIC("image/heic",
                 "\xff\xd8\xff\x18"
                 "ftypheic\0",
                 1));
    CHECK(!MAGIC("image/heic",
                 "\0\0\0\x08"
                 "ftypheic\0\0\0\0",
                 1)); /* shorter than its own fields */
    CHECK(!MAGIC("image/heic",
                 "\0\0\0\x19"
                 "ftypheic\0\0\0\0",
                 1)); /* not whole brands */
    CHECK(!MAGIC("image/heic",
                 "\0\0\x10\0"
                 "ftypheic\0\0\0\0",
                 1)); /* 4096 bytes of brands */
    CHECK(MAGIC("image/heic",
                "\0\0\0\x2c"
                "ftypheic\0\0\0\0mif1heicmiafMiHBMiHEMiPr",
                1));
}

TEST(text_is_utf8_without_controls)
{
    CHECK(MAGIC("text/plain", "Filter size 16x25x1\r\n\tmodel \xc3\xa9\n", 1));
    CHECK(!MAGIC("text/plain", "", 1));
    CHECK(!MAGIC("text/plain", "a\0b", 1));
    CHECK(!MAGIC("text/plain", "a\x01", 1));
    CHECK(!MAGIC("text/plain",
                 "\x7f"
                 "ELF",
                 1));
    CHECK(!MAGIC("text/plain", "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", 1));
    CHECK(!MAGIC("text/plain", "caf\xc3", 1));    /* cut, and the file ends there */
    CHECK(MAGIC("text/plain", "caf\xc3", 0));     /* cut by the window only */
    CHECK(MAGIC("text/plain", "x \xe2\x82", 0));  /* two of three bytes */
    CHECK(!MAGIC("text/plain", "x \xff\xfe", 0)); /* never UTF-8 */
}

static const char *clean(const char *in)
{
    static char out[STORAGE_DISPLAY_MAX + 1];
    storage_clean_name(in, out, sizeof(out));
    return out;
}

TEST(display_names_cannot_name_a_path)
{
    CHECK_STR(clean("manual.pdf"), "manual.pdf");
    CHECK_STR(clean("../../etc/passwd"), "passwd");
    CHECK_STR(clean("..\\..\\windows\\win.ini"), "win.ini");
    CHECK_STR(clean("/abs/path/r\xc3\xa9sum\xc3\xa9.pdf"), "r\xc3\xa9sum\xc3\xa9.pdf");
    CHECK_STR(clean(".."), "");
    CHECK_STR(clean("../"), "");
    CHECK_STR(clean("  .hidden  "), "hidden");
    CHECK_STR(clean("a\r\nX-Evil: 1.pdf"), "aX-Evil: 1.pdf");
    CHECK_STR(clean("gpj\xe2\x80\xae.exe"), "gpj.exe"); /* right-to-left override dropped */
    CHECK_STR(clean("bad\xff.pdf"), "");                /* not UTF-8: no name at all */
    CHECK(storage_clean_name(NULL, (char[4]){0}, 4) == 0);
    char small[6];
    CHECK(storage_clean_name("\xc3\xa9\xc3\xa9\xc3\xa9", small, sizeof(small)) == 4);
    CHECK_STR(small, "\xc3\xa9\xc3\xa9"); /* cut at a character boundary */
    char long_name[400];
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    CHECK(strlen(clean(long_name)) == STORAGE_DISPLAY_MAX);
}

TEST(content_disposition)
{
    char out[300];
    CHECK(storage_disposition("manual.pdf", out, sizeof(out)) == 0);
    CHECK_STR(out, "attachment; filename=\"manual.pdf\"; filename*=UTF-8''manual.pdf");
    CHECK(storage_disposition("r\xc3\xa9sum\xc3\xa9 \"1\";x.pdf", out, sizeof(out)) == 0);
    CHECK_STR(out, "attachment; filename=\"r_sum_ _1__x.pdf\"; "
                   "filename*=UTF-8''r%C3%A9sum%C3%A9%20%221%22%3Bx.pdf");
    CHECK(storage_disposition("a.pdf", out, 20) == -1);
}

TEST(stored_names)
{
    CHECK(storage_name_valid("0123456789abcdef0123456789abcdef"));
    CHECK(!storage_name_valid("0123456789ABCDEF0123456789abcdef"));
    CHECK(!storage_name_valid("../23456789abcdef0123456789abcdef"));
    CHECK(!storage_name_valid("0123456789abcdef"));
    CHECK(!storage_name_valid(NULL));
}

RUN_TESTS()
