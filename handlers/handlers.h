/*
 * handlers.h - every HTTP handler and the route table that maps to them;
 * it includes what the resource files share (reply, paging, params,
 * idempotency), so a handler file needs this header alone.
 */
#ifndef HD_HANDLERS_H
#define HD_HANDLERS_H

#include <libpq-fe.h>
#include <stddef.h>

#include "http.h"
#include "idempotency.h"
#include "paging.h"
#include "params.h"
#include "reply.h"
#include "router.h"

extern const route routes[];
extern const size_t routes_n;

/* health.c */
int health_get(req *r);
int health_ready_get(req *r);

/* The answer of GET /api/ready/ without sending it: the body (new object,
 * caller puts) and its HTTP status (200, or 503 with an error body) in
 * *STATUS. */
json_object *health_ready_body(req *r, int *status);

/* metrics.c */
int metrics_get(req *r);

/* status.c */
int status_get(req *r);

/* The answer of GET /api/internal/status/ without sending it: the body
 * (new object, caller puts) and its HTTP status (200, or 503 with an
 * error body when there is no scoreboard) in *STATUS. */
json_object *status_body(int *status);

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
int residences_sharecode_create(req *r);
int residences_sharecode_revoke(req *r);

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
int notifications_preferences_get(req *r);
int notifications_preferences_update(req *r);

/* devices.c */
int devices_list(req *r);
int devices_register(req *r);
int devices_delete(req *r);

/* 1 when S looks like a push token (APNs or FCM): 16 to 512 characters
 * among letters, digits and "_:.-". Pure. */
int devices_token_valid(const char *s);

/* admin.c (every route ROUTE_STAFF) */
int admin_users_list(req *r);
int admin_users_get(req *r);
int admin_users_update(req *r);
int admin_residences_list(req *r);
int admin_residences_get(req *r);
int admin_stats(req *r);
int admin_stats_series(req *r);
int admin_system_get(req *r);

/* admin_jobs.c (ROUTE_STAFF) */
int admin_jobs_get(req *r);
int admin_jobs_dead_retry(req *r);
int admin_jobs_dead_discard(req *r);

/* admin_audit.c (ROUTE_STAFF) */
int admin_audit_list(req *r);

/* Record that the request's user did ACTION to TARGET_TYPE TARGET_ID (NULL
 * for none), with DETAILS (a JSON object's text), from r->remote_addr: one
 * admin_auditlog entry, for an action outside Postgres (a change in
 * Postgres writes its entry in its own statement). Returns 0, or sends the
 * error (503 database down, 403 when the user no longer exists) and
 * returns -1. */
int admin_audit_record(req *r, const char *action, const char *target_type, const char *target_id,
                       const char *details);

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

/* Have honeydue-worker remove the files no document points at any more
 * (document_filedeletion: a deleted document, a replaced file, a deleted
 * residence's documents): enqueue documents.sweep, which retries while the
 * storage is unreachable. Any handler whose write can release files calls
 * it after the write. */
void documents_sweep(req *r);

/* invalidate.c */

/* Drop every cached per-user list (each list a route of routes.c declares)
 * of every user in MEMBERS, a Postgres int array in text form ("{1,2}"). */
void invalidate_members(req *r, const char *members);

#endif
