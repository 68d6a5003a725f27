/*
 * embed.h - files compiled into the binaries by fcgi-app/embed.sh:
 * every sql/NAME.sql (the named queries) and every migrations/NNN_NAME.sql (so the
 * API knows the newest schema version it was built for).
 */
#ifndef HD_EMBED_H
#define HD_EMBED_H

typedef struct {
    const char *path; /* as given to the build, e.g. "sql/tasks.sql" */
    const char *text;
} embed_file;

extern const embed_file embed_sql[];
extern const int embed_sql_n;
extern const embed_file embed_migrations[];
extern const int embed_migrations_n;

#endif
