/*
 * routes.c - the whole API in one table: method, path, handler, flags, and
 * for a route whose body is a per-user list, its cache (route_cache: the
 * list's name and the named query that fills it; fcgi-app/listcache.h
 * serves it, handlers/invalidate.c drops it for every user a write
 * concerns). Adding an endpoint is one line here plus its handler.
 */
#include "handlers.h"

const route routes[] = {
    {"GET", "/api/health/", health_get, 0, NULL},
    {"GET", "/api/ready/", health_ready_get, 0, NULL},
    {"GET", "/api/static-data/", static_data_get, 0, NULL},
    {"GET", "/metrics", metrics_get, 0, NULL},
    {"GET", "/api/internal/status/", status_get, 0, NULL},

    {"POST", "/api/auth/register/", auth_register, 0, NULL},
    {"POST", "/api/auth/login/", auth_login, 0, NULL},
    {"POST", "/api/auth/logout/", auth_logout, ROUTE_AUTH, NULL},
    {"GET", "/api/auth/me/", auth_me, ROUTE_AUTH, NULL},
    {"PATCH", "/api/auth/me/", auth_me_update, ROUTE_AUTH, NULL},
    {"DELETE", "/api/auth/me/", auth_me_delete, ROUTE_AUTH, NULL},
    {"POST", "/api/auth/password/change/", auth_password_change, ROUTE_AUTH, NULL},
    {"POST", "/api/auth/password/reset/", auth_password_reset, 0, NULL},
    {"POST", "/api/auth/password/reset/confirm/", auth_password_reset_confirm, 0, NULL},
    {"POST", "/api/auth/verify-email/send/", auth_verify_email_send, ROUTE_AUTH, NULL},
    {"POST", "/api/auth/verify-email/", auth_verify_email, ROUTE_AUTH, NULL},

    {"GET", "/api/residences/", residences_list, ROUTE_AUTH,
     ROUTE_CACHE("residences", "residences_list")},
    {"POST", "/api/residences/", residences_create, ROUTE_AUTH, NULL},
    {"GET", "/api/residences/{id}/", residences_get, ROUTE_AUTH, NULL},
    {"PATCH", "/api/residences/{id}/", residences_update, ROUTE_AUTH, NULL},
    {"DELETE", "/api/residences/{id}/", residences_delete, ROUTE_AUTH, NULL},
    {"POST", "/api/residences/join/", residences_join, ROUTE_AUTH, NULL},
    {"GET", "/api/residences/{id}/users/", residences_members, ROUTE_AUTH, NULL},
    {"DELETE", "/api/residences/{id}/users/{uid}/", residences_remove_member, ROUTE_AUTH, NULL},
    {"POST", "/api/residences/{id}/leave/", residences_leave, ROUTE_AUTH, NULL},
    {"POST", "/api/residences/{id}/share-code/", residences_sharecode_create, ROUTE_AUTH, NULL},
    {"DELETE", "/api/residences/{id}/share-code/", residences_sharecode_revoke, ROUTE_AUTH, NULL},

    {"GET", "/api/tasks/", tasks_list, ROUTE_AUTH, ROUTE_CACHE("tasks", "tasks_list")},
    {"POST", "/api/tasks/", tasks_create, ROUTE_AUTH, NULL},
    {"GET", "/api/tasks/{id}/", tasks_get, ROUTE_AUTH, NULL},
    {"PATCH", "/api/tasks/{id}/", tasks_update, ROUTE_AUTH, NULL},
    {"DELETE", "/api/tasks/{id}/", tasks_delete, ROUTE_AUTH, NULL},
    {"POST", "/api/tasks/{id}/complete/", tasks_complete, ROUTE_AUTH, NULL},
    {"POST", "/api/tasks/{id}/skip/", tasks_skip, ROUTE_AUTH, NULL},
    {"POST", "/api/tasks/{id}/archive/", tasks_archive, ROUTE_AUTH, NULL},
    {"POST", "/api/tasks/{id}/unarchive/", tasks_unarchive, ROUTE_AUTH, NULL},
    {"POST", "/api/tasks/{id}/cancel/", tasks_cancel, ROUTE_AUTH, NULL},
    {"GET", "/api/tasks/{id}/completions/", tasks_completions, ROUTE_AUTH, NULL},
    {"DELETE", "/api/tasks/{id}/completions/{cid}/", tasks_completion_delete, ROUTE_AUTH, NULL},

    {"GET", "/api/notifications/", notifications_list, ROUTE_AUTH, NULL},
    {"POST", "/api/notifications/read-all/", notifications_read_all, ROUTE_AUTH, NULL},
    {"POST", "/api/notifications/{id}/read/", notifications_read, ROUTE_AUTH, NULL},
    {"DELETE", "/api/notifications/{id}/", notifications_delete, ROUTE_AUTH, NULL},
    {"GET", "/api/notifications/preferences/", notifications_preferences_get, ROUTE_AUTH, NULL},
    {"PATCH", "/api/notifications/preferences/", notifications_preferences_update, ROUTE_AUTH, NULL},

    {"GET", "/api/devices/", devices_list, ROUTE_AUTH, NULL},
    {"POST", "/api/devices/", devices_register, ROUTE_AUTH, NULL},
    {"DELETE", "/api/devices/", devices_delete, ROUTE_AUTH, NULL},

    {"GET", "/api/admin/users/", admin_users_list, ROUTE_STAFF, NULL},
    {"GET", "/api/admin/users/{id}/", admin_users_get, ROUTE_STAFF, NULL},
    {"PATCH", "/api/admin/users/{id}/", admin_users_update, ROUTE_STAFF, NULL},
    {"GET", "/api/admin/residences/", admin_residences_list, ROUTE_STAFF, NULL},
    {"GET", "/api/admin/residences/{id}/", admin_residences_get, ROUTE_STAFF, NULL},
    {"GET", "/api/admin/stats/", admin_stats, ROUTE_STAFF, NULL},
    {"GET", "/api/admin/stats/series/", admin_stats_series, ROUTE_STAFF, NULL},
    {"GET", "/api/admin/system/", admin_system_get, ROUTE_STAFF, NULL},
    {"GET", "/api/admin/jobs/", admin_jobs_get, ROUTE_STAFF, NULL},
    {"POST", "/api/admin/jobs/dead/retry/", admin_jobs_dead_retry, ROUTE_STAFF, NULL},
    {"POST", "/api/admin/jobs/dead/discard/", admin_jobs_dead_discard, ROUTE_STAFF, NULL},
    {"GET", "/api/admin/audit/", admin_audit_list, ROUTE_STAFF, NULL},

    {"GET", "/api/contractors/", contractors_list, ROUTE_AUTH, NULL},
    {"POST", "/api/contractors/", contractors_create, ROUTE_AUTH, NULL},
    {"GET", "/api/contractors/{id}/", contractors_get, ROUTE_AUTH, NULL},
    {"PATCH", "/api/contractors/{id}/", contractors_update, ROUTE_AUTH, NULL},
    {"DELETE", "/api/contractors/{id}/", contractors_delete, ROUTE_AUTH, NULL},
    {"GET", "/api/contractors/{id}/completions/", contractors_completions, ROUTE_AUTH, NULL},

    {"GET", "/api/documents/", documents_list, ROUTE_AUTH, NULL},
    {"POST", "/api/documents/", documents_create, ROUTE_AUTH, NULL},
    {"GET", "/api/documents/{id}/", documents_get, ROUTE_AUTH, NULL},
    {"PATCH", "/api/documents/{id}/", documents_update, ROUTE_AUTH, NULL},
    {"DELETE", "/api/documents/{id}/", documents_delete, ROUTE_AUTH, NULL},
    {"PUT", "/api/documents/{id}/file/", documents_upload, ROUTE_AUTH | ROUTE_UPLOAD, NULL},
    {"GET", "/api/documents/{id}/file/", documents_download, ROUTE_AUTH, NULL},
};

const size_t routes_n = sizeof(routes) / sizeof(routes[0]);
