/*
 * storage.c - documents' files in the local or the s3 backend: one
 * interface (storage.h), the backends below it; server-chosen names; the
 * type, magic-number and display-name checks.
 *
 * local: every path is relative to one directory descriptor opened at
 * start (openat, renameat, unlinkat), so no string from a request ever
 * reaches the file system. s3: the thin layer over s3.c that makes names
 * keys and maps its results.
 */
#include "storage.h"
#include "config.h"
#include "jsonv.h"
#include "log.h"
#include "s3.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TMP_PREFIX ".upload-"
#define STALE_TMP_SECONDS 3600
#define PRESIGN_SECONDS 120 /* nginx fetches the URL at once: ample */
#define PAGE 1000

typedef enum { BACKEND_NONE, BACKEND_LOCAL, BACKEND_S3 } backend_kind;

static backend_kind backend = BACKEND_NONE;
static const char *backend_name = "local";
static int dir_fd = -1;
static long max_bytes = 10485760;

/* ---- local: STORAGE_DIR ------------------------------------------------------- */

/* STORAGE_DIR opened afresh for reading its entries: a new open file
 * description, with an offset of its own (a dup of dir_fd would share
 * one, so a second listing would start where the first ended and see
 * nothing). NULL on failure. */
static DIR *open_entries(void)
{
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL && fd >= 0)
        close(fd);
    return d;
}

/* Remove temporary files an interrupted upload left (older than an hour:
 * another worker may be writing a young one right now). */
static void remove_stale(void)
{
    DIR *d = open_entries();
    if (d == NULL)
        return;
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0 ||
            fstatat(dir_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            now - st.st_mtime < STALE_TMP_SECONDS)
            continue;
        if (unlinkat(dir_fd, e->d_name, 0) == 0)
            log_line(LOG_INFO, "storage", "removed %s, left by an interrupted upload", e->d_name);
    }
    closedir(d);
}

static int local_setup(void)
{
    const char *dir = config_get("STORAGE_DIR");
    if (dir == NULL || *dir == '\0') {
        log_line(LOG_WARN, "storage", "STORAGE_DIR is not set: document files are unavailable");
        return -1;
    }
    if (mkdir(dir, 0700) == 0)
        log_line(LOG_INFO, "storage", "created STORAGE_DIR %s (mode 0700)", dir);
    else if (errno != EEXIST) {
        log_line(LOG_ERROR, "storage", "cannot create STORAGE_DIR %s: %s", dir, strerror(errno));
        return -1;
    }
    dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) {
        log_line(LOG_ERROR, "storage", "cannot open STORAGE_DIR %s: %s", dir, strerror(errno));
        return -1;
    }
    remove_stale();
    return 0;
}

static void random_hex(char *out, size_t bytes)
{
    unsigned char raw[32];
    if (bytes > sizeof(raw))
        bytes = sizeof(raw);
    randombytes_buf(raw, bytes);
    sodium_bin2hex(out, bytes * 2 + 1, raw, bytes);
}

static int write_all(int fd, const char *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            log_line(LOG_ERROR, "storage", "cannot write an upload: %s",
                     w < 0 ? strerror(errno) : "no progress");
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

/* An upload's source with its digest taken on the way (both backends). */
typedef struct {
    storage_read_fn read;
    void *ud;
    crypto_hash_sha256_state sha;
    int aborted;
} hashed_src;

static size_t hashed_read(void *p, char *buf, size_t cap)
{
    hashed_src *h = p;
    size_t n = h->read(h->ud, buf, cap);
    if (n == (size_t)-1 || n > cap) {
        h->aborted = 1;
        return (size_t)-1;
    }
    crypto_hash_sha256_update(&h->sha, (const unsigned char *)buf, n);
    return n;
}

static storage_rc local_put(hashed_src *h, uint64_t size, const char *name)
{
    static char chunk[65536];
    char tmp[32], rnd[17];
    random_hex(rnd, 8);
    snprintf(tmp, sizeof(tmp), TMP_PREFIX "%s", rnd);
    int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        log_line(LOG_ERROR, "storage", "cannot create a temporary file: %s", strerror(errno));
        return STORAGE_FAILED;
    }
    storage_rc rc = STORAGE_FAILED;
    /* Readable by the directory's group (nginx), whatever the umask. */
    if (fchmod(fd, 0640) != 0) {
        log_line(LOG_ERROR, "storage", "cannot chmod a temporary file: %s", strerror(errno));
        goto fail;
    }
    for (uint64_t left = size; left > 0;) {
        size_t n = hashed_read(h, chunk, left < sizeof(chunk) ? (size_t)left : sizeof(chunk));
        if (n == (size_t)-1 || n == 0) {
            rc = STORAGE_SOURCE;
            goto fail;
        }
        if (write_all(fd, chunk, n) != 0)
            goto fail;
        left -= n;
    }
    if (fsync(fd) != 0) {
        log_line(LOG_ERROR, "storage", "cannot fsync an upload: %s", strerror(errno));
        goto fail;
    }
    int closed = close(fd);
    fd = -1;
    if (closed != 0) {
        log_line(LOG_ERROR, "storage", "cannot close an upload: %s", strerror(errno));
        goto fail;
    }
    /* RENAME_NOREPLACE semantics by hand: a 128-bit collision is not a
     * concern, but an existing name is never overwritten. */
    struct stat st;
    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
        renameat(dir_fd, tmp, dir_fd, name) != 0) {
        log_line(LOG_ERROR, "storage", "cannot move an upload into place: %s", strerror(errno));
        goto fail;
    }
    if (fsync(dir_fd) != 0) /* the rename itself is durable from here */
        log_line(LOG_WARN, "storage", "cannot fsync STORAGE_DIR: %s", strerror(errno));
    return STORAGE_OK;
fail:
    if (fd >= 0)
        close(fd);
    if (unlinkat(dir_fd, tmp, 0) != 0 && errno != ENOENT)
        log_line(LOG_ERROR, "storage", "cannot remove %s: %s", tmp, strerror(errno));
    return rc;
}

/* ---- s3 ----------------------------------------------------------------------- */

static storage_rc from_s3(s3_rc rc)
{
    switch (rc) {
    case S3_OK:
        return STORAGE_OK;
    case S3_NOT_FOUND:
        return STORAGE_NOT_FOUND;
    case S3_UNAVAILABLE:
        return STORAGE_UNAVAILABLE;
    case S3_REFUSED:
        return STORAGE_REFUSED;
    default:
        return STORAGE_FAILED;
    }
}

/* documents/NAME */
static void s3_key(char *key, const char *name)
{
    memcpy(key, STORAGE_S3_PREFIX, sizeof(STORAGE_S3_PREFIX) - 1);
    memcpy(key + sizeof(STORAGE_S3_PREFIX) - 1, name, STORAGE_NAME_LEN + 1);
}
#define S3_KEY_LEN (sizeof(STORAGE_S3_PREFIX) - 1 + STORAGE_NAME_LEN + 1)

/* ---- the interface ------------------------------------------------------------ */

int storage_setup(void)
{
    storage_close();
    max_bytes = config_int("DOCUMENT_MAX_BYTES", 10485760);
    if (max_bytes <= 0) {
        log_line(LOG_WARN, "config", "DOCUMENT_MAX_BYTES must be positive, using 10485760");
        max_bytes = 10485760;
    }
    const char *which = config_get("STORAGE_BACKEND");
    if (which == NULL || *which == '\0' || strcmp(which, "local") == 0) {
        backend_name = "local";
        if (local_setup() != 0)
            return -1;
        backend = BACKEND_LOCAL;
        return 0;
    }
    if (strcmp(which, "s3") == 0) {
        backend_name = "s3";
        if (s3_setup() != 0 || !s3_configured()) {
            log_line(LOG_ERROR, "storage", "STORAGE_BACKEND=s3 but the S3_* settings are "
                                           "incomplete: document files are unavailable");
            return -1;
        }
        backend = BACKEND_S3;
        return 0;
    }
    log_line(LOG_ERROR, "storage", "STORAGE_BACKEND must be local or s3: document files are unavailable");
    return -1;
}

void storage_close(void)
{
    if (dir_fd >= 0)
        close(dir_fd);
    dir_fd = -1;
    if (backend == BACKEND_S3)
        s3_shutdown();
    backend = BACKEND_NONE;
}

int storage_ready(void)
{
    return backend != BACKEND_NONE;
}

const char *storage_backend(void)
{
    return backend_name;
}

long storage_max_bytes(void)
{
    return max_bytes;
}

storage_rc storage_put(const char *type, uint64_t size, storage_read_fn read, void *ud,
                       char *name, char *sha256)
{
    random_hex(name, STORAGE_NAME_LEN / 2);
    return storage_put_as(name, type, size, read, ud, sha256);
}

storage_rc storage_put_as(const char *name, const char *type, uint64_t size, storage_read_fn read,
                          void *ud, char *sha256)
{
    if (backend == BACKEND_NONE || read == NULL || !storage_name_valid(name))
        return STORAGE_FAILED;
    hashed_src h = {.read = read, .ud = ud};
    crypto_hash_sha256_init(&h.sha);
    storage_rc rc;
    if (backend == BACKEND_LOCAL) {
        rc = local_put(&h, size, name);
    } else {
        char key[S3_KEY_LEN];
        s3_key(key, name);
        rc = from_s3(s3_put(key, type, size, hashed_read, &h));
        if (h.aborted)
            rc = STORAGE_SOURCE;
    }
    if (rc == STORAGE_OK && sha256 != NULL) {
        unsigned char digest[crypto_hash_sha256_BYTES];
        crypto_hash_sha256_final(&h.sha, digest);
        sodium_bin2hex(sha256, 65, digest, sizeof(digest));
    }
    return rc;
}

int storage_name_valid(const char *name)
{
    if (name == NULL || strlen(name) != STORAGE_NAME_LEN)
        return 0;
    for (const char *p = name; *p != '\0'; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

storage_rc storage_remove(const char *name)
{
    if (!storage_name_valid(name)) {
        log_line(LOG_ERROR, "storage", "refusing to remove a file that is not a stored file");
        return STORAGE_FAILED;
    }
    if (backend == BACKEND_S3) {
        char key[S3_KEY_LEN];
        s3_key(key, name);
        return from_s3(s3_delete(key));
    }
    if (backend != BACKEND_LOCAL)
        return STORAGE_FAILED;
    if (unlinkat(dir_fd, name, 0) != 0 && errno != ENOENT) {
        log_line(LOG_ERROR, "storage", "cannot remove %s: %s", name, strerror(errno));
        return STORAGE_FAILED;
    }
    return STORAGE_OK;
}

storage_rc storage_stat(const char *name, uint64_t *size)
{
    if (!storage_name_valid(name))
        return STORAGE_FAILED;
    if (backend == BACKEND_S3) {
        char key[S3_KEY_LEN];
        s3_key(key, name);
        return from_s3(s3_head(key, size));
    }
    if (backend != BACKEND_LOCAL)
        return STORAGE_FAILED;
    struct stat st;
    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? STORAGE_NOT_FOUND : STORAGE_FAILED;
    if (size != NULL)
        *size = (uint64_t)st.st_size;
    return STORAGE_OK;
}

char *storage_accel(const char *name, const char *disposition, const char *type)
{
    if (!storage_name_valid(name))
        return NULL;
    if (backend == BACKEND_LOCAL) {
        char *out = malloc(sizeof("/_documents/") + STORAGE_NAME_LEN);
        if (out != NULL)
            sprintf(out, "/_documents/%s", name);
        return out;
    }
    if (backend != BACKEND_S3)
        return NULL;
    /* scheme://host/path?query -> /_s3/scheme/host/path?query, which
     * nginx's /_s3/ location turns back into the URL it fetches. */
    char key[S3_KEY_LEN];
    s3_key(key, name);
    char *url = s3_presign_get(key, PRESIGN_SECONDS, disposition, type);
    char *sep = url ? strstr(url, "://") : NULL;
    char *out = sep ? malloc(strlen(url) + 4) : NULL;
    if (out != NULL)
        sprintf(out, "/_s3/%.*s/%s", (int)(sep - url), url, sep + 3);
    free(url);
    return out;
}

/* ---- listing ------------------------------------------------------------------ */

struct storage_lister {
    storage_entry *entries; /* local: every file, sorted; s3: the current page */
    size_t n, at;
    char *token; /* s3: the next page's continuation token */
    int done;
};

static int by_name(const void *a, const void *b)
{
    return strcmp(((const storage_entry *)a)->name, ((const storage_entry *)b)->name);
}

/* local: read the whole directory once (names are 32 bytes: a million
 * files is 56 MB, read in one job run), sorted. */
static storage_rc local_list(storage_lister *l)
{
    DIR *d = open_entries();
    if (d == NULL)
        return STORAGE_FAILED;
    size_t cap = 0;
    struct dirent *e;
    storage_rc rc = STORAGE_OK;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (!storage_name_valid(e->d_name) ||
            fstatat(dir_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (l->n == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            storage_entry *grown = realloc(l->entries, ncap * sizeof(*grown));
            if (grown == NULL) {
                rc = STORAGE_FAILED;
                break;
            }
            l->entries = grown, cap = ncap;
        }
        storage_entry *s = &l->entries[l->n++];
        memcpy(s->name, e->d_name, STORAGE_NAME_LEN + 1);
        s->mtime = st.st_mtime;
        s->size = (uint64_t)st.st_size;
    }
    closedir(d);
    if (l->n > 0)
        qsort(l->entries, l->n, sizeof(*l->entries), by_name);
    return rc;
}

storage_rc storage_list_open(storage_lister **out)
{
    *out = NULL;
    if (backend == BACKEND_NONE)
        return STORAGE_FAILED;
    storage_lister *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return STORAGE_FAILED;
    if (backend == BACKEND_LOCAL) {
        storage_rc rc = local_list(l);
        if (rc != STORAGE_OK) {
            storage_list_close(l);
            return rc;
        }
    }
    *out = l;
    return STORAGE_OK;
}

static storage_rc s3_next_page(storage_lister *l)
{
    s3_list_page page;
    s3_rc rc = s3_list(STORAGE_S3_PREFIX, l->token, PAGE, &page);
    if (rc != S3_OK) {
        s3_list_free(&page);
        return from_s3(rc);
    }
    free(l->token);
    l->token = page.next_token;
    page.next_token = NULL;
    l->done = l->token == NULL;
    l->n = l->at = 0;
    /* An empty page (an empty bucket) needs no room: l->entries may stay NULL. */
    storage_entry *grown = page.n ? realloc(l->entries, page.n * sizeof(*grown)) : l->entries;
    if (grown == NULL && page.n > 0) {
        s3_list_free(&page);
        return STORAGE_FAILED;
    }
    l->entries = grown;
    for (size_t i = 0; i < page.n; i++) {
        const char *name = page.objects[i].key + sizeof(STORAGE_S3_PREFIX) - 1;
        if (strncmp(page.objects[i].key, STORAGE_S3_PREFIX, sizeof(STORAGE_S3_PREFIX) - 1) != 0 ||
            !storage_name_valid(name))
            continue;
        storage_entry *s = &l->entries[l->n++];
        memcpy(s->name, name, STORAGE_NAME_LEN + 1);
        s->mtime = page.objects[i].last_modified;
        s->size = page.objects[i].size;
    }
    s3_list_free(&page);
    return STORAGE_OK;
}

storage_rc storage_list_next(storage_lister *l, const storage_entry **entries, size_t *n)
{
    *entries = NULL;
    *n = 0;
    if (backend == BACKEND_LOCAL) {
        size_t k = l->n - l->at < PAGE ? l->n - l->at : PAGE;
        *entries = k > 0 ? l->entries + l->at : NULL; /* no arithmetic on a NULL list */
        *n = k;
        l->at += k;
        return STORAGE_OK;
    }
    /* s3: a page may hold no stored file (all foreign keys): go on. */
    while (!l->done) {
        storage_rc rc = s3_next_page(l);
        if (rc != STORAGE_OK)
            return rc;
        if (l->n > 0) {
            *entries = l->entries;
            *n = l->n;
            return STORAGE_OK;
        }
    }
    return STORAGE_OK;
}

void storage_list_close(storage_lister *l)
{
    if (l == NULL)
        return;
    free(l->entries);
    free(l->token);
    free(l);
}

/* ---- what a file may be ---- */

static const struct {
    const char *type;
    const char *ext;
} types[] = {
    {"application/pdf", ".pdf"}, {"image/jpeg", ".jpg"},  {"image/png", ".png"},
    {"image/heic", ".heic"},     {"image/webp", ".webp"}, {"text/plain", ".txt"},
};
#define NTYPES (sizeof(types) / sizeof(types[0]))

const char *storage_type_allowed(const char *content_type)
{
    if (content_type == NULL)
        return NULL;
    const char *s = content_type;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strcspn(s, ";");
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    for (size_t i = 0; i < NTYPES; i++)
        if (strlen(types[i].type) == len && strncasecmp(s, types[i].type, len) == 0)
            return types[i].type;
    return NULL;
}

const char *storage_type_ext(const char *type)
{
    for (size_t i = 0; type != NULL && i < NTYPES; i++)
        if (strcmp(type, types[i].type) == 0)
            return types[i].ext;
    return "";
}

/* Text: UTF-8 without NUL or control characters other than tab, line
 * feed, form feed and carriage return. A cut multi-byte sequence at the end
 * of a partial head is fine. */
static int text_ok(const unsigned char *p, size_t n, int whole)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\f' && p[i] != '\r') ||
            p[i] == 0x7f)
            return 0;
    size_t end = n;
    if (!whole) { /* back up over an incomplete last character (at most 3 bytes) */
        size_t i = n, k = 0;
        while (i > 0 && k < 3 && (p[i - 1] & 0xC0) == 0x80)
            i--, k++;
        if (i > 0 && p[i - 1] >= 0xC0) {
            unsigned c = p[i - 1];
            size_t need = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
            if (k < need)
                end = i - 1;
        }
    }
    return jv_utf8_valid((const char *)p, end);
}

static int heic_brand(const unsigned char *b)
{
    static const char *const brands[] = {"heic", "heix", "hevc", "hevx", "heim",
                                         "heis", "hevm", "hevs", "mif1", "msf1"};
    for (size_t i = 0; i < sizeof(brands) / sizeof(brands[0]); i++)
        if (memcmp(b, brands[i], 4) == 0)
            return 1;
    return 0;
}

int storage_magic_ok(const char *type, const unsigned char *head, size_t n, int whole)
{
    if (type == NULL)
        return 0;
    if (strcmp(type, "application/pdf") == 0)
        return n >= 5 && memcmp(head, "%PDF-", 5) == 0;
    if (strcmp(type, "image/jpeg") == 0)
        return n >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF;
    if (strcmp(type, "image/png") == 0)
        return n >= 8 && memcmp(head, "\x89PNG\r\n\x1a\n", 8) == 0;
    if (strcmp(type, "image/webp") == 0)
        return n >= 12 && memcmp(head, "RIFF", 4) == 0 && memcmp(head + 8, "WEBP", 4) == 0;
    if (strcmp(type, "image/heic") == 0) {
        /* An ftyp box: its size (big-endian) covers its own fields and
         * whole brands, within the head; else a JPEG's first bytes pass. */
        if (n < 12)
            return 0;
        uint32_t box =
            (uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 | (uint32_t)head[2] << 8 | head[3];
        return box >= 16 && box % 4 == 0 && box <= STORAGE_HEAD &&
               memcmp(head + 4, "ftyp", 4) == 0 && heic_brand(head + 8);
    }
    if (strcmp(type, "text/plain") == 0)
        return text_ok(head, n, whole);
    return 0;
}

/* Length of the UTF-8 character starting with byte C (valid input). */
static size_t char_len(unsigned char c)
{
    return c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
}

/* U+202A..U+202E and U+2066..U+2069: text-direction overrides, which can
 * make "gpj.exe" display as "exe.jpg". */
static int is_bidi_control(const unsigned char *p, size_t len)
{
    return len == 3 && p[0] == 0xE2 &&
           ((p[1] == 0x80 && p[2] >= 0xAA && p[2] <= 0xAE) ||
            (p[1] == 0x81 && p[2] >= 0xA6 && p[2] <= 0xA9));
}

size_t storage_clean_name(const char *in, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    out[0] = '\0';
    if (in == NULL || !jv_utf8_valid(in, strlen(in)))
        return 0;
    const char *base = in;
    for (const char *p = in; *p != '\0'; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    const unsigned char *p = (const unsigned char *)base;
    size_t n = 0;
    while (*p != '\0') {
        size_t len = char_len(*p);
        if (*p < 0x20 || *p == 0x7f || is_bidi_control(p, len) ||
            (n == 0 && (*p == '.' || *p == ' '))) {
            p += len;
            continue;
        }
        if (n + len > cap - 1)
            break;
        memcpy(out + n, p, len);
        n += len;
        p += len;
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
    return n;
}

int storage_disposition(const char *name, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    const char *pre = "attachment; filename=\"";
    size_t n = strlen(pre);
    if (cap < n + 1)
        return -1;
    memcpy(out, pre, n);
    /* ASCII fallback: one '_' for each character outside a safe set. */
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0';) {
        size_t len = char_len(*p);
        char c = (len == 1 && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                               (*p >= '0' && *p <= '9') || strchr(" ._-()+,@&=!#$~[]", *p)))
                     ? (char)*p
                     : '_';
        if (n + 2 > cap)
            return -1;
        out[n++] = c;
        p += len;
    }
    const char *mid = "\"; filename*=UTF-8''";
    size_t mlen = strlen(mid);
    if (n + mlen + 1 > cap)
        return -1;
    memcpy(out + n, mid, mlen);
    n += mlen;
    /* RFC 8187 attr-char stays, everything else is percent-encoded. */
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || (*p != '\0' && strchr("!#$&+-.^_`|~", *p));
        if (n + (plain ? 1 : 3) + 1 > cap)
            return -1;
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
    return 0;
}
