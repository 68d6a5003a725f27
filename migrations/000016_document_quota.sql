-- A residence's documents share a storage quota (the sum of their files'
-- sizes). document_set_file is documents_set_file with the quota's check
-- in the same transaction: it locks the residence's row first, so uploads
-- to one residence commit one at a time, and then sums the sizes in a
-- statement of its own, which (a PL/pgSQL statement takes a new snapshot
-- under READ COMMITTED) sees every upload committed before the lock was
-- granted. A single SQL statement could not: its snapshot predates the wait
-- for the lock, so two concurrent uploads would each miss the other.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION document_set_file(doc bigint, uid bigint, stored text, ctype text, bytes bigint,
                                  display text, sha text, quota bigint)
RETURNS TABLE (document json, used bigint)
LANGUAGE plpgsql AS $$
DECLARE
    rid bigint;
    taken bigint;
BEGIN
    SELECT d.residence_id INTO rid
    FROM document_document d
    WHERE d.id = doc
      AND d.residence_id IN (SELECT m.residence_id FROM residence_residence_users m
                             WHERE m.user_id = uid);
    IF rid IS NULL THEN
        RETURN; -- no row: the document is gone or not the user's
    END IF;
    PERFORM 1 FROM residence_residence r WHERE r.id = rid FOR NO KEY UPDATE;
    SELECT coalesce(sum(d.size), 0) INTO taken
    FROM document_document d
    WHERE d.residence_id = rid AND d.id <> doc AND d.stored_name IS NOT NULL;
    IF quota IS NOT NULL AND taken + bytes > quota THEN
        RETURN QUERY SELECT NULL::json, taken;
        RETURN;
    END IF;
    RETURN QUERY
    WITH u AS (
        UPDATE document_document d
        SET stored_name = stored, content_type = ctype, size = bytes, original_name = display,
            sha256 = sha, uploaded_at = now(), updated_at = now()
        WHERE d.id = doc AND d.residence_id = rid
        RETURNING d.*
    )
    SELECT document_json(u), taken FROM u;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION document_set_file(bigint, bigint, text, text, bigint, text, text, bigint);
