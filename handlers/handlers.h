/*
 * handlers.h - every HTTP handler, the route table that maps to them, and
 * the few helpers the resource files share.
 */
#ifndef HD_HANDLERS_H
#define HD_HANDLERS_H

#include <libpq-fe.h>
#include <stddef.h>

#include "http.h"
#include "router.h"

extern const route routes[];
extern const size_t routes_n;

/* health.c */
int health_get(req *r);
int ready_get(req *r);

/* metrics.c */
int metrics_get(req *r);

/* status.c */
int status_get(req *r);

/* static_data.c */
int static_data_get(req *r);

/* auth.c */
int auth_register(req *r);
int auth_login(req *r);
int auth_logout(req *r);
int auth_me(req *r);
int auth_me_update(req *r);
int auth_me_delete(req *r);
int auth_password_change(req *r);
int auth_password_reset(req *r);
int auth_password_reset_confirm(req *r);
int auth_verify_email_send(req *r);
int auth_verify_email(req *r);

/* residences.c */
int residences_list(req *r);
int residences_create(req *r);
int residences_get(req *r);
int residences_update(req *r);
int residences_delete(req *r);
int residences_members(req *r);
int residences_remove_member(req *r);
int residences_leave(req *r);
int residences_join(req *r);
int sharecode_create(req *r);
int sharecode_revoke(req *r);

/* tasks.c */
int tasks_list(req *r);
int tasks_create(req *r);
int tasks_get(req *r);
int tasks_update(req *r);
int tasks_delete(req *r);
int tasks_complete(req *r);
int tasks_skip(req *r);
int tasks_archive(req *r);
int tasks_unarchive(req *r);
int tasks_cancel(req *r);
int tasks_completions(req *r);
int tasks_completion_delete(req *r);

/* notifications.c */
int notifications_list(req *r);
int notifications_read(req *r);
int notifications_read_all(req *r);
int notifications_delete(req *r);
int preferences_get(req *r);
int preferences_update(req *r);

/* devices.c */
int devices_list(req *r);
int devices_register(req *r);
int devices_delete(req *r);

/* 1 when S looks like a push token (APNs or FCM): 16 to 512 characters
 * among letters, digits and "_:.-". Pure. */
int device_token_valid(const char *s);

/* admin.c (every route ROUTE_STAFF) */
int admin_users_list(req *r);
int admin_users_get(req *r);
int admin_users_update(req *r);
int admin_residences_list(req *r);
int admin_stats(req *r);

/* contractors.c */
int contractors_list(req *r);
int contractors_create(req *r);
int contractors_get(req *r);
int contractors_update(req *r);
int contractors_delete(req *r);
int contractors_completions(req *r);

/* documents.c */
int documents_list(req *r);
int documents_create(req *r);
int documents_get(req *r);
int documents_update(req *r);
int documents_delete(req *r);
int documents_upload(req *r);
int documents_download(req *r);

/* Unlink the files no document points at any more (document_filedeletion:
 * a deleted document, a replaced file, a deleted residence's documents),
 * then forget them. Any handler whose write can release files calls it
 * after the write; failures are logged and retried by the next call. */
void documents_sweep(req *r);

/* invalidate.c */

/* Drop every cached per-user list (each list a route of routes.c declares)
 * of every user in MEMBERS, a Postgres int array in text form ("{1,2}"). */
void invalidate_members(req *r, const char *members);

/* common.c */

/* r->user_id (or any id) as decimal text in the request's arena. */
const char *id_text(req *r, long long id);

/* Send column COL of the first row of RES (a JSON text) with STATUS, or the
 * 404 when RES has no row; clears RES. */
int send_row(req *r, PGresult *res, int col, int status);

/* Idempotency-Key. Returns 0 with *KEY set to the request's key (NULL when
 * it has none) when the write should run, passing *KEY and idem_scope(r)
 * to its query so the answer is stored with it; or sends the stored answer
 * of an earlier request with that key (1), or an error (-1: 422 when the
 * key is malformed or was used for another request, 503). */
int idem_replay(req *r, const char **key);

/* What a key is bound to: "METHOD PATH". */
const char *idem_scope(req *r);

/* Run named query NAME and send its first column (a JSON text) with
 * STATUS, the 404 when it has no row, or the database error. */
int send_query(req *r, const char *name, int n, const char *const *params, int status);

/* Query parameter NAME as a positive id (its text), or NULL when absent; a
 * malformed value adds "NAME": "must be an id" to ERRORS and gives NULL. */
const char *query_id_param(req *r, const char *name, json_object *errors);

/* Send a 422 validation_failed with ERRORS (taken). */
int send_invalid(req *r, json_object *errors);

/* Send a 422 validation_failed naming one FIELD with MESSAGE. */
int send_invalid_field(req *r, const char *field, const char *message);

/* ---- paginated lists: ?page= (from 1) and ?page_size= (default 20, at
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
int send_page(req *r, const page_req *p, PGresult *res, const char *extra);

/* A boolean query parameter: 1 for "true", 0 for "false", -1 otherwise. Pure. */
int query_bool(const char *value);

#endif
