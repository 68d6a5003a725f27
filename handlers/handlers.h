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
int tasks_completions(req *r);
int tasks_completion_delete(req *r);

/* common.c */

/* r->user_id (or any id) as decimal text in the request's arena. */
const char *id_text(req *r, long long id);

/* Drop the cached per-user lists (tasks:user:<id>, residences:user:<id>) of
 * every user in MEMBERS, a Postgres int array in text form ("{1,2}"). */
void invalidate_members(req *r, const char *members);

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

/* Send a 422 validation_failed with ERRORS (taken). */
int send_invalid(req *r, json_object *errors);

#endif
