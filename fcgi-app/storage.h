/*
 * storage.h - uploaded files on local disk (STORAGE_DIR) and what the API
 * checks about them.
 *
 * The server names every file itself (32 random hex characters from
 * libsodium); nothing a client sends ever becomes part of a path. An upload
 * is written to a temporary file in the same directory, fsynced, then
 * renamed into place, so a file either exists whole under its final name or
 * not at all. nginx serves the files (X-Accel-Redirect to an internal
 * location aliased to STORAGE_DIR), so they are created mode 0640: readable
 * by a group nginx is in when the directory is setgid to it.
 *
 * The checks are pure: the allow-list of content types, the leading bytes
 * each type must start with, the display name a client may suggest, and the
 * Content-Disposition built from it.
 */
#ifndef HD_STORAGE_H
#define HD_STORAGE_H

#include <sodium.h>
#include <stddef.h>

#define STORAGE_NAME_LEN 32 /* hex characters of a stored file's name */
#define STORAGE_HEAD 512    /* leading bytes kept for the type check */
#define STORAGE_DISPLAY_MAX 255

/* Read STORAGE_DIR and DOCUMENT_MAX_BYTES once, at worker start; create the
 * directory (mode 0700) when it is missing and remove temporary files that
 * an interrupted upload left more than an hour ago. Returns 0, or -1 after
 * logging (storage_ready() is then 0 and uploads answer 503). */
int storage_setup(void);

/* Close the directory (worker exit). */
void storage_close(void);

/* 1 when STORAGE_DIR is usable. */
int storage_ready(void);

/* The largest file accepted, in bytes (DOCUMENT_MAX_BYTES). */
long storage_max_bytes(void);

/* One upload in progress: a temporary file, its size, its SHA-256 so far
 * and its first STORAGE_HEAD bytes. */
typedef struct {
    int fd;
    char tmp[32];
    long size;
    crypto_hash_sha256_state sha;
    unsigned char head[STORAGE_HEAD];
    size_t head_len;
} storage_upload;

/* Create the temporary file. Returns 0, or -1 after logging. */
int storage_begin(storage_upload *u);

/* Append N bytes. Returns 0, or -1 after logging (the disk is full...). */
int storage_write(storage_upload *u, const void *buf, size_t n);

/* fsync the file, rename it to a new random name (written to NAME,
 * STORAGE_NAME_LEN + 1 bytes) and fsync the directory; SHA256 (65 bytes)
 * receives the hex digest. Returns 0; or -1 after logging, with nothing
 * left on disk. */
int storage_commit(storage_upload *u, char *name, char *sha256);

/* Drop an upload that will not be committed: nothing stays on disk. */
void storage_abort(storage_upload *u);

/* Unlink stored file NAME. Returns 0 (also when it was already gone), or
 * -1 after logging (NAME is not a stored file's name, or unlink failed). */
int storage_remove(const char *name);

/* 1 when NAME has the shape of a stored file's name. Pure. */
int storage_name_valid(const char *name);

/* The canonical type when CONTENT_TYPE (parameters and case ignored) is
 * on the allow-list: application/pdf, image/jpeg, image/png, image/heic,
 * image/webp, text/plain; else NULL. Pure. */
const char *storage_type_allowed(const char *content_type);

/* The file-name extension of allowed TYPE (".pdf"), or "". Pure. */
const char *storage_type_ext(const char *type);

/* 1 when HEAD[0..N), the first bytes of a file, fit allowed TYPE (its magic
 * number; for text/plain, UTF-8 text without control characters). WHOLE
 * says the file ends there (else a UTF-8 sequence may be cut at the end).
 * Pure. */
int storage_magic_ok(const char *type, const unsigned char *head, size_t n, int whole);

/* A client's suggested file name made safe for display: valid UTF-8 only,
 * the part after the last '/' or '\\', no control or bidirectional-override
 * characters, no leading dots or spaces, at most CAP - 1 bytes (cut at a
 * character boundary). Writes OUT and returns its length; 0 means nothing
 * usable was left. Pure. */
size_t storage_clean_name(const char *in, char *out, size_t cap);

/* Content-Disposition for NAME (already clean): attachment, an ASCII
 * filename= fallback and the UTF-8 filename*= (RFC 6266). Writes at most
 * CAP bytes to OUT. Returns 0, or -1 when CAP is too small. Pure. */
int storage_disposition(const char *name, char *out, size_t cap);

#endif
