/*
 * routes.c - the whole API in one table: method, path, handler, flags.
 * Adding an endpoint is one line here plus its handler.
 */
#include "handlers.h"

const route routes[] = {
    {"GET", "/api/health/", health_get, 0},
    {"GET", "/api/ready/", health_ready_get, 0},
    {"GET", "/api/static-data/", static_data_get, 0},
    {"GET", "/metrics", metrics_get, 0},
    {"GET", "/api/internal/status/", status_get, 0},

    {"POST", "/api/auth/register/", auth_register, 0},
    {"POST", "/api/auth/login/", auth_login, 0},
    {"POST", "/api/auth/logout/", auth_logout, ROUTE_AUTH},
    {"GET", "/api/auth/me/", auth_me, ROUTE_AUTH},
    {"PATCH", "/api/auth/me/", auth_me_update, ROUTE_AUTH},
    {"DELETE", "/api/auth/me/", auth_me_delete, ROUTE_AUTH},
    {"POST", "/api/auth/password/change/", auth_password_change, ROUTE_AUTH},
    {"POST", "/api/auth/password/reset/", auth_password_reset, 0},
    {"POST", "/api/auth/password/reset/confirm/", auth_password_reset_confirm, 0},
    {"POST", "/api/auth/verify-email/send/", auth_verify_email_send, ROUTE_AUTH},
    {"POST", "/api/auth/verify-email/", auth_verify_email, ROUTE_AUTH},

    {"GET", "/api/residences/", residences_list, ROUTE_AUTH},
    {"POST", "/api/residences/", residences_create, ROUTE_AUTH},
    {"GET", "/api/residences/{id}/", residences_get, ROUTE_AUTH},
    {"PATCH", "/api/residences/{id}/", residences_update, ROUTE_AUTH},
    {"DELETE", "/api/residences/{id}/", residences_delete, ROUTE_AUTH},
    {"POST", "/api/residences/join/", residences_join, ROUTE_AUTH},
    {"GET", "/api/residences/{id}/users/", residences_members, ROUTE_AUTH},
    {"DELETE", "/api/residences/{id}/users/{uid}/", residences_remove_member, ROUTE_AUTH},
    {"POST", "/api/residences/{id}/leave/", residences_leave, ROUTE_AUTH},
    {"POST", "/api/residences/{id}/share-code/", residences_sharecode_create, ROUTE_AUTH},
    {"DELETE", "/api/residences/{id}/share-code/", residences_sharecode_revoke, ROUTE_AUTH},

    {"GET", "/api/tasks/", tasks_list, ROUTE_AUTH | ROUTE_CACHEABLE},
    {"POST", "/api/tasks/", tasks_create, ROUTE_AUTH},
    {"GET", "/api/tasks/{id}/", tasks_get, ROUTE_AUTH},
    {"PATCH", "/api/tasks/{id}/", tasks_update, ROUTE_AUTH},
    {"DELETE", "/api/tasks/{id}/", tasks_delete, ROUTE_AUTH},
    {"POST", "/api/tasks/{id}/complete/", tasks_complete, ROUTE_AUTH},
    {"POST", "/api/tasks/{id}/skip/", tasks_skip, ROUTE_AUTH},
    {"POST", "/api/tasks/{id}/archive/", tasks_archive, ROUTE_AUTH},
    {"POST", "/api/tasks/{id}/unarchive/", tasks_unarchive, ROUTE_AUTH},
    {"POST", "/api/tasks/{id}/cancel/", tasks_cancel, ROUTE_AUTH},
    {"GET", "/api/tasks/{id}/completions/", tasks_completions, ROUTE_AUTH},
    {"DELETE", "/api/tasks/{id}/completions/{cid}/", tasks_completion_delete, ROUTE_AUTH},

    {"GET", "/api/notifications/", notifications_list, ROUTE_AUTH},
    {"POST", "/api/notifications/read-all/", notifications_read_all, ROUTE_AUTH},
    {"POST", "/api/notifications/{id}/read/", notifications_read, ROUTE_AUTH},
    {"DELETE", "/api/notifications/{id}/", notifications_delete, ROUTE_AUTH},
    {"GET", "/api/notifications/preferences/", notifications_preferences_get, ROUTE_AUTH},
    {"PATCH", "/api/notifications/preferences/", notifications_preferences_update, ROUTE_AUTH},

    {"GET", "/api/devices/", devices_list, ROUTE_AUTH},
    {"POST", "/api/devices/", devices_register, ROUTE_AUTH},
    {"DELETE", "/api/devices/", devices_delete, ROUTE_AUTH},

    {"GET", "/api/admin/users/", admin_users_list, ROUTE_STAFF},
    {"GET", "/api/admin/users/{id}/", admin_users_get, ROUTE_STAFF},
    {"PATCH", "/api/admin/users/{id}/", admin_users_update, ROUTE_STAFF},
    {"GET", "/api/admin/residences/", admin_residences_list, ROUTE_STAFF},
    {"GET", "/api/admin/stats/", admin_stats, ROUTE_STAFF},

    {"GET", "/api/contractors/", contractors_list, ROUTE_AUTH},
    {"POST", "/api/contractors/", contractors_create, ROUTE_AUTH},
    {"GET", "/api/contractors/{id}/", contractors_get, ROUTE_AUTH},
    {"PATCH", "/api/contractors/{id}/", contractors_update, ROUTE_AUTH},
    {"DELETE", "/api/contractors/{id}/", contractors_delete, ROUTE_AUTH},
    {"GET", "/api/contractors/{id}/completions/", contractors_completions, ROUTE_AUTH},

    {"GET", "/api/documents/", documents_list, ROUTE_AUTH},
    {"POST", "/api/documents/", documents_create, ROUTE_AUTH},
    {"GET", "/api/documents/{id}/", documents_get, ROUTE_AUTH},
    {"PATCH", "/api/documents/{id}/", documents_update, ROUTE_AUTH},
    {"DELETE", "/api/documents/{id}/", documents_delete, ROUTE_AUTH},
    {"PUT", "/api/documents/{id}/file/", documents_upload, ROUTE_AUTH | ROUTE_UPLOAD},
    {"GET", "/api/documents/{id}/file/", documents_download, ROUTE_AUTH},
};

const size_t routes_n = sizeof(routes) / sizeof(routes[0]);
