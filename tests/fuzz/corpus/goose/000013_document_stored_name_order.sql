-- documents.reconcile (honeydue-worker) walks the stored files in name
-- order a page at a time and asks, for each page, which rows name a file in
-- that page's range of names. It compares in byte order (COLLATE "C"), the
-- order of the storage's listing, whatever the database's collation; the
-- UNIQUE index on stored_name is in the database's collation, so the range
-- needs an index of its own to be a range scan rather than a scan of every
-- document per page.

-- +goose Up
CREATE INDEX document_document_stored_name_c_idx
    ON document_document (stored_name COLLATE "C") WHERE stored_name IS NOT NULL;

-- +goose Down
DROP INDEX document_document_stored_name_c_idx;
