/*
 * arena.h - per-request memory (nginx's ngx_pool_t in miniature).
 *
 * Everything a request allocates for itself comes from its arena; the worker
 * calls arena_reset() once the response is sent, which frees every block but
 * the first, so steady-state requests make no malloc calls at all.
 * Allocation failure returns NULL; callers turn that into a 500/503.
 */
#ifndef HD_ARENA_H
#define HD_ARENA_H

#include <stdarg.h>
#include <stddef.h>

typedef struct arena_block arena_block;
typedef struct {
    arena_block *head; /* current block; the chain ends at the first block */
    size_t block_size;
} arena;

int arena_init(arena *a, size_t block_size);
void *arena_alloc(arena *a, size_t n);
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_sprintf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Free every block allocated since init except the first. */
void arena_reset(arena *a);
/* Free everything (process exit). */
void arena_destroy(arena *a);
/* Bytes held by the arena (for tests and the scoreboard). */
size_t arena_held(const arena *a);

#endif
