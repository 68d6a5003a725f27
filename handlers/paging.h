/*
 * paging.h - paginated lists (paging.c).
 */
#ifndef HD_PAGING_H
#define HD_PAGING_H

#include <libpq-fe.h>

#include "http.h"

/* Paginated lists: ?page= (from 1) and ?page_size= (default 20, at
 * most 100; more is a 422, not clamped). A page past the end is a 200 with
 * no results. The answer is {"count", "next", "previous", "results"}, next
 * and previous being page numbers or null. */

#define PAGE_SIZE_DEFAULT 20
#define PAGE_SIZE_MAX 100
#define PAGE_MAX 1000000000LL

typedef struct {
    long long page, size;
} page_req;

/* Parse a positive decimal VALUE no greater than MAX into *OUT, or DEF when
 * VALUE is NULL. Returns NULL, or the field error message. Pure. */
const char *page_parse_int(const char *value, long long def, long long max, long long *out);

/* The page numbers around P for a list of COUNT items: 0 for null. A page
 * past the end points back to the last page there is (page 1 when empty).
 * Pure. */
void page_links(const page_req *p, long long count, long long *next, long long *previous);

/* Read ?page= and ?page_size= into *P; each bad one adds a field error to
 * ERRORS. Returns 0, or -1 when it added any. */
int page_from_query(req *r, page_req *p, json_object *errors);

/* P's LIMIT and OFFSET as query parameters (text in the arena). */
const char *page_limit(req *r, const page_req *p);
const char *page_offset(req *r, const page_req *p);

/* Send the page envelope built from RES, whose first row holds the total
 * count (column 0) and the page's JSON array (column 1). EXTRA, when not
 * NULL, is more members for the envelope ("\"unread_count\":3"). Clears RES. */
int page_send(req *r, const page_req *p, PGresult *res, const char *extra);

#endif
