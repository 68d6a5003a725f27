-- Named queries of handlers/documents.c.
-- A document belongs to a residence (and maybe to one of its tasks); every
-- member of the residence reads and writes it, anyone else gets no row
-- (404). $1 is the document and $2 the requesting user where both appear.
-- A task of another residence breaks document_document_task_fk (23503).
-- A query marked "retry" after its name is safe to run twice: db.c runs it
-- once more on a new connection when Postgres went away under it. Reads are
-- marked; a write is not, unless a second run is harmless and its comment
-- says why (see fcgi-app/sqlfile.h).

-- name: documents_list retry
-- User $1's documents across their residences, newest first; filters (NULL
-- for "any"): residence $2, task $3, document type $4.
SELECT json_build_object('count', count(*),
                         'results', coalesce(json_agg(document_json(d)
                                                      ORDER BY d.created_at DESC, d.id DESC), '[]'))
FROM document_document d
WHERE d.residence_id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $1)
  AND ($2::bigint IS NULL OR d.residence_id = $2::bigint)
  AND ($3::bigint IS NULL OR d.task_id = $3::bigint)
  AND ($4::text IS NULL OR d.document_type = $4::text)

-- name: documents_create
-- $1 user, $2 residence, $3 the validated fields as jsonb. No row when the
-- user is not a member of the residence.
WITH p AS (
    SELECT * FROM jsonb_populate_record(NULL::document_document, $3::jsonb)
), d AS (
    INSERT INTO document_document AS n (residence_id, task_id, created_by_id, document_type, title,
                                        notes, purchase_date, expiry_date)
    SELECT $2, p.task_id, $1, coalesce(p.document_type, 'other'), p.title, coalesce(p.notes, ''),
           p.purchase_date, p.expiry_date
    FROM p
    WHERE EXISTS (SELECT 1 FROM residence_residence_users WHERE residence_id = $2 AND user_id = $1)
    RETURNING n.*
)
SELECT document_json(d) FROM d

-- name: documents_get retry
SELECT document_json(d)
FROM document_document d
WHERE d.id = $1
  AND d.residence_id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $2)

-- name: documents_update
-- $3 the validated changes as jsonb (absent keys keep their value).
WITH d AS (
    UPDATE document_document d
    SET (task_id, document_type, title, notes, purchase_date, expiry_date, updated_at) =
        (SELECT p.task_id, p.document_type, p.title, p.notes, p.purchase_date, p.expiry_date, now()
         FROM jsonb_populate_record(d, $3::jsonb) p)
    WHERE d.id = $1
      AND d.residence_id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $2)
    RETURNING d.*
)
SELECT document_json(d) FROM d

-- name: documents_delete
-- Its file's name goes to document_filedeletion (the trigger); the stored
-- name returned says whether there was one.
DELETE FROM document_document d
WHERE d.id = $1
  AND d.residence_id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $2)
RETURNING d.id, d.stored_name

-- name: documents_file retry
-- What a download needs: stored name (NULL before an upload), content
-- type, display name. No row when user $2 cannot see document $1.
SELECT d.stored_name, d.content_type, d.original_name
FROM document_document d
WHERE d.id = $1
  AND d.residence_id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $2)

-- name: documents_set_file
-- Point document $1 (seen by user $2) at the file just stored as $3:
-- content type $4, size $5, display name $6 (or NULL), SHA-256 $7. The
-- previous file's name goes to document_filedeletion (the trigger). No row
-- when the document is gone or not the user's.
WITH d AS (
    UPDATE document_document d
    SET stored_name = $3, content_type = $4, size = $5::bigint, original_name = $6,
        sha256 = $7, uploaded_at = now(), updated_at = now()
    WHERE d.id = $1
      AND d.residence_id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $2)
    RETURNING d.*
)
SELECT document_json(d) FROM d

-- name: documents_orphaned
-- $1 was being uploaded when the bucket stopped answering: the object may
-- still appear, and no row will ever name it. Removed like a released file.
INSERT INTO document_filedeletion (stored_name) VALUES ($1) ON CONFLICT DO NOTHING

-- name: documents_released retry
-- Files no row points at any more (oldest first, a batch): honeydue-worker's
-- documents.sweep removes them, then forgets them.
SELECT stored_name FROM document_filedeletion ORDER BY created_at, stored_name LIMIT 100

-- name: documents_forget
-- Files $1 (a text array) are removed: forget them.
DELETE FROM document_filedeletion WHERE stored_name = ANY ($1::text[])

-- name: documents_reconcile_start retry
-- When documents.reconcile starts listing the storage, by the clock that
-- stamps uploaded_at: a file uploaded after it may be missing from the
-- listing, so its row is not checked.
SELECT now()

-- name: documents_unreferenced retry
-- Of the stored files $1 (a text array of names), those no row names and
-- no removal is pending for (document_filedeletion: the sweep's): orphans.
SELECT n
FROM unnest($1::text[]) AS n
WHERE NOT EXISTS (SELECT 1 FROM document_document d WHERE d.stored_name = n)
  AND NOT EXISTS (SELECT 1 FROM document_filedeletion f WHERE f.stored_name = n)

-- name: documents_missing retry
-- Rows whose file is not among the stored files $1 (a text array: one page
-- of the storage's listing, which covers the names after $2 and up to $3,
-- in byte order; NULL: from the first name, to the last) and that were
-- uploaded before $4 (documents_reconcile_start). The first $5 by name
-- (at least one, to carry the count), each with how many there are in all.
SELECT d.id, d.stored_name, count(*) OVER ()
FROM document_document d
WHERE d.stored_name IS NOT NULL
  AND d.uploaded_at < $4::timestamptz
  AND ($2::text IS NULL OR d.stored_name COLLATE "C" > $2::text)
  AND ($3::text IS NULL OR d.stored_name COLLATE "C" <= $3::text)
  AND d.stored_name <> ALL ($1::text[])
ORDER BY d.stored_name COLLATE "C"
LIMIT greatest($5::int, 1)

-- name: documents_file_type retry
-- The content type of the document whose file is stored as $1; no row when
-- no document names it (honeydue-worker storage copy-local).
SELECT coalesce(content_type, 'application/octet-stream')
FROM document_document
WHERE stored_name = $1
