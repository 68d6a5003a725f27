/*
 * storage.c - uploaded files in STORAGE_DIR: temporary file, fsync, rename;
 * server-chosen names; the type, magic-number and display-name checks.
 * Every path is relative to one directory descriptor opened at start
 * (openat, renameat, unlinkat), so no string from a request ever reaches
 * the file system.
 */
#include "storage.h"
#include "config.h"
#include "jsonv.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TMP_PREFIX ".upload-"
#define STALE_TMP_SECONDS 3600

static int dir_fd = -1;
static long max_bytes = 10485760;

/* Remove temporary files an interrupted upload left (older than an hour:
 * another worker may be writing a young one right now). */
static void remove_stale(void)
{
    int fd = dup(dir_fd);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return;
    }
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

int storage_setup(void)
{
    storage_close();
    max_bytes = config_int("DOCUMENT_MAX_BYTES", 10485760);
    if (max_bytes <= 0) {
        log_line(LOG_WARN, "config", "DOCUMENT_MAX_BYTES must be positive, using 10485760");
        max_bytes = 10485760;
    }
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

void storage_close(void)
{
    if (dir_fd >= 0)
        close(dir_fd);
    dir_fd = -1;
}

int storage_ready(void)
{
    return dir_fd >= 0;
}

long storage_max_bytes(void)
{
    return max_bytes;
}

static void random_hex(char *out, size_t bytes)
{
    unsigned char raw[32];
    if (bytes > sizeof(raw))
        bytes = sizeof(raw);
    randombytes_buf(raw, bytes);
    sodium_bin2hex(out, bytes * 2 + 1, raw, bytes);
}

int storage_begin(storage_upload *u)
{
    memset(u, 0, sizeof(*u));
    u->fd = -1;
    if (dir_fd < 0)
        return -1;
    char rnd[17];
    random_hex(rnd, 8);
    snprintf(u->tmp, sizeof(u->tmp), TMP_PREFIX "%s", rnd);
    u->fd = openat(dir_fd, u->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (u->fd < 0) {
        log_line(LOG_ERROR, "storage", "cannot create a temporary file: %s", strerror(errno));
        return -1;
    }
    /* Readable by the directory's group (nginx), whatever the umask. */
    if (fchmod(u->fd, 0640) != 0) {
        log_line(LOG_ERROR, "storage", "cannot chmod a temporary file: %s", strerror(errno));
        storage_abort(u);
        return -1;
    }
    crypto_hash_sha256_init(&u->sha);
    return 0;
}

int storage_write(storage_upload *u, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    if (u->head_len < STORAGE_HEAD) {
        size_t k = STORAGE_HEAD - u->head_len < n ? STORAGE_HEAD - u->head_len : n;
        memcpy(u->head + u->head_len, p, k);
        u->head_len += k;
    }
    crypto_hash_sha256_update(&u->sha, p, n);
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(u->fd, p + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            log_line(LOG_ERROR, "storage", "cannot write an upload: %s",
                     w < 0 ? strerror(errno) : "no progress");
            return -1;
        }
        done += (size_t)w;
    }
    u->size += (long)n;
    return 0;
}

void storage_abort(storage_upload *u)
{
    if (u->fd >= 0) {
        close(u->fd);
        u->fd = -1;
    }
    if (u->tmp[0] != '\0' && dir_fd >= 0 && unlinkat(dir_fd, u->tmp, 0) != 0 && errno != ENOENT)
        log_line(LOG_ERROR, "storage", "cannot remove %s: %s", u->tmp, strerror(errno));
    u->tmp[0] = '\0';
}

int storage_commit(storage_upload *u, char *name, char *sha256)
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&u->sha, digest);
    sodium_bin2hex(sha256, 65, digest, sizeof(digest));
    if (fsync(u->fd) != 0) {
        log_line(LOG_ERROR, "storage", "cannot fsync an upload: %s", strerror(errno));
        storage_abort(u);
        return -1;
    }
    int rc = close(u->fd);
    u->fd = -1;
    if (rc != 0) {
        log_line(LOG_ERROR, "storage", "cannot close an upload: %s", strerror(errno));
        storage_abort(u);
        return -1;
    }
    random_hex(name, STORAGE_NAME_LEN / 2);
    /* RENAME_NOREPLACE semantics by hand: a 128-bit collision is not a
     * concern, but an existing name is never overwritten. */
    struct stat st;
    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
        renameat(dir_fd, u->tmp, dir_fd, name) != 0) {
        log_line(LOG_ERROR, "storage", "cannot move an upload into place: %s", strerror(errno));
        storage_abort(u);
        return -1;
    }
    u->tmp[0] = '\0';
    if (fsync(dir_fd) != 0) /* the rename itself is durable from here */
        log_line(LOG_WARN, "storage", "cannot fsync STORAGE_DIR: %s", strerror(errno));
    return 0;
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

int storage_remove(const char *name)
{
    if (!storage_name_valid(name)) {
        log_line(LOG_ERROR, "storage", "refusing to remove a file that is not a stored file");
        return -1;
    }
    if (dir_fd < 0)
        return -1;
    if (unlinkat(dir_fd, name, 0) != 0 && errno != ENOENT) {
        log_line(LOG_ERROR, "storage", "cannot remove %s: %s", name, strerror(errno));
        return -1;
    }
    return 0;
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
    if (strcmp(type, "image/heic") == 0)
        return n >= 12 && memcmp(head + 4, "ftyp", 4) == 0 && heic_brand(head + 8);
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
