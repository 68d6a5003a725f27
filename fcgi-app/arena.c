/*
 * arena.c - a bump allocator over a chain of malloc'd blocks.
 */
#include "arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_block {
    arena_block *next;
    size_t size, used;
    max_align_t data[]; /* aligned storage */
};

static arena_block *block_new(size_t size, arena_block *next)
{
    arena_block *b = malloc(sizeof(*b) + size);
    if (b == NULL)
        return NULL;
    b->next = next;
    b->size = size;
    b->used = 0;
    return b;
}

int arena_init(arena *a, size_t block_size)
{
    a->block_size = block_size;
    a->head = block_new(block_size, NULL);
    return a->head ? 0 : -1;
}

void *arena_alloc(arena *a, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    if (n == 0)
        n = align;
    arena_block *b = a->head;
    if (b == NULL || b->size - b->used < n) {
        size_t size = n > a->block_size ? n : a->block_size;
        arena_block *nb = block_new(size, b);
        if (nb == NULL)
            return NULL;
        a->head = b = nb;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(arena *a, const char *s)
{
    return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

char *arena_sprintf(arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = n >= 0 ? arena_alloc(a, (size_t)n + 1) : NULL;
    if (p != NULL)
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void arena_reset(arena *a)
{
    arena_block *b = a->head;
    while (b != NULL && b->next != NULL) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = b;
    if (b != NULL)
        b->used = 0;
}

void arena_destroy(arena *a)
{
    arena_reset(a);
    free(a->head);
    a->head = NULL;
}

size_t arena_held(const arena *a)
{
    size_t n = 0;
    for (const arena_block *b = a->head; b != NULL; b = b->next)
        n += b->size;
    return n;
}
