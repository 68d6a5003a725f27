/*
 * cli_storage.c - `honeydue-worker storage copy-local DIR`: copy the files
 * of a local STORAGE_DIR into the bucket, for moving documents from
 * STORAGE_BACKEND=local to s3 (docs/operations.md, Documents' files, says
 * in which order).
 *
 * It runs with the s3 settings (STORAGE_BACKEND=s3 and S3_*) and the
 * database's. Each file of DIR whose name is a stored file's
 * (storage_name_valid) and that a document names is put in the bucket
 * under the same name (storage_put_as), streamed from the file, with the
 * document's content type, unless an object of that name and size is there
 * already (storage_stat): a second run copies only what is new, so an
 * interrupted copy is resumed by running it again, and a copy made while
 * the API still stores locally is completed by one more run after the
 * switch. Skipped and counted: temporary .upload-* files, other names,
 * anything but a regular file, and files no document names (a released
 * file, or an upload whose row has not committed yet: the next run sees
 * it). One line per file on stdout, then the totals; the exit status is 1
 * when a file failed, 2 for a usage or set-up error.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "storage.h"

#define TMP_PREFIX ".upload-" /* storage.c's temporary uploads */

typedef struct {
    long long copied, there, skipped, failed;
} copy_totals;

/* A file's name as it is printed: bytes outside printable ASCII become '?'
 * (a name in DIR is anybody's, the terminal is the operator's). */
static const char *printable(const char *name, char *out, size_t cap)
{
    size_t i = 0;
    for (; name[i] != '\0' && i + 1 < cap; i++)
        out[i] = name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '?';
    out[i] = '\0';
    return out;
}

static void skipped(copy_totals *t, const char *name, const char *why)
{
    char shown[256];
    printf("skipped %s: %s\n", printable(name, shown, sizeof(shown)), why);
    t->skipped++;
}

static void failed(copy_totals *t, const char *name, const char *why)
{
    printf("failed %s: %s\n", name, why);
    t->failed++;
}

static const char *storage_said(storage_rc rc)
{
    switch (rc) {
    case STORAGE_UNAVAILABLE:
        return "the bucket is unavailable";
    case STORAGE_REFUSED:
        return "the bucket refused it";
    case STORAGE_SOURCE:
        return "the file could not be read whole";
    default:
        return "failed (see the log)";
    }
}

/* The source of one copy: the open file. */
static size_t file_read(void *ud, char *buf, size_t cap)
{
    int fd = *(int *)ud;
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n >= 0)
            return (size_t)n;
        if (errno != EINTR)
            return (size_t)-1;
    }
}

/* Copy stored file NAME of directory DFD, a regular file of SIZE bytes. */
static void copy_one(copy_totals *t, int dfd, const char *name, uint64_t size)
{
    char state[6] = "";
    const char *params[] = {name};
    PGresult *res = db_exec("documents_file_type", 1, params, state, NULL);
    if (res == NULL) {
        failed(t, name, "the database did not answer whether a document names it");
        return;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        skipped(t, name, "no document names it");
        return;
    }
    char type[128];
    snprintf(type, sizeof(type), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    uint64_t there = 0;
    storage_rc rc = storage_stat(name, &there);
    if (rc == STORAGE_OK && there == size) {
        printf("already there %s (%llu bytes)\n", name, (unsigned long long)size);
        t->there++;
        return;
    }
    if (rc != STORAGE_OK && rc != STORAGE_NOT_FOUND) {
        failed(t, name, storage_said(rc));
        return;
    }
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        char why[160];
        snprintf(why, sizeof(why), "cannot open it: %s", strerror(errno));
        failed(t, name, why);
        return;
    }
    rc = storage_put_as(name, type, size, file_read, &fd, NULL);
    close(fd);
    if (rc != STORAGE_OK) {
        failed(t, name, storage_said(rc));
        return;
    }
    printf("copied %s (%llu bytes)\n", name, (unsigned long long)size);
    t->copied++;
}

static int copy_local(const char *dir)
{
    const char *backend = config_get("STORAGE_BACKEND");
    if (backend == NULL || strcmp(backend, "s3") != 0 || storage_setup() != 0) {
        fprintf(stderr, "storage copy-local copies into the bucket: run it with "
                        "STORAGE_BACKEND=s3 and the S3_* settings (see the log above)\n");
        return 2;
    }
    if (db_open() != 0) {
        fprintf(stderr, "storage copy-local: cannot reach the database (see the log above)\n");
        storage_close();
        return 2;
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "storage copy-local: cannot open %s: %s\n", dir, strerror(errno));
        db_close();
        storage_close();
        return 2;
    }
    copy_totals t = {0};
    int dfd = dirfd(d);
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        struct stat st;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0)
            skipped(&t, name, "a temporary upload");
        else if (!storage_name_valid(name))
            skipped(&t, name, "not a stored file's name");
        else if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            failed(&t, name, strerror(errno));
        else if (!S_ISREG(st.st_mode))
            skipped(&t, name, "not a regular file");
        else
            copy_one(&t, dfd, name, (uint64_t)st.st_size);
        errno = 0;
    }
    if (errno != 0) {
        fprintf(stderr, "storage copy-local: reading %s: %s\n", dir, strerror(errno));
        t.failed++;
    }
    closedir(d);
    printf("copied %lld, already there %lld, skipped %lld, failed %lld\n", t.copied, t.there,
           t.skipped, t.failed);
    db_close();
    storage_close();
    return t.failed > 0 ? 1 : 0;
}

int cli_storage(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);         /* libcurl's: s3.h */
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress as it happens, into a pipe too */
    if (argc == 2 && strcmp(argv[0], "copy-local") == 0)
        return copy_local(argv[1]);
    fprintf(stderr, "usage: honeydue-worker storage copy-local DIR\n");
    return 2;
}
