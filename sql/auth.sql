-- Named queries of fcgi-app/authn.c and handlers/auth.c: users, tokens and
-- the one-time codes of the account lifecycle (user_verificationcode).
-- A user's public JSON never includes the password hash; a code is only
-- ever seen here as its keyed hash.
-- A query marked "retry" after its name is safe to run twice: db.c runs it
-- once more on a new connection when Postgres went away under it. Reads are
-- marked; a write is not, unless a second run is harmless and its comment
-- says why (see fcgi-app/sqlfile.h).

-- name: auth_token_user retry
-- Every authenticated request the auth cache misses (once a minute per token
-- at most): token hash -> active user, whether the token's last use is
-- unrecorded or over an hour old (then authn.c runs auth_token_touch), and
-- the whole seconds it has left: to the end of its idle lifetime ($2 days
-- after its last use, or its creation when unused) or of its absolute one
-- ($3 days after its creation), whichever comes first; 0 or less when it
-- has expired; NULL when both lifetimes are off (0).
SELECT u.id, u.is_staff, t.last_used IS NULL OR t.last_used < now() - interval '1 hour',
       floor(extract(epoch FROM least(
           CASE WHEN $2::int > 0
                THEN coalesce(t.last_used, t.created) + make_interval(days => $2::int) END,
           CASE WHEN $3::int > 0 THEN t.created + make_interval(days => $3::int) END)
           - now()))::bigint
FROM user_authtoken t JOIN auth_user u ON u.id = t.user_id
WHERE t.key_hash = $1 AND u.is_active

-- name: auth_token_touch
-- Record that token $1 was used, at most once an hour, so the admin API's
-- last_active and its 7/30-day figures count people whose app stays logged
-- in for months; and, in the same statement, that its user was active
-- today (UTC), one auth_user_activity row per user per day at most. A
-- write, so not retry: authn.c ignores its failure (the record waits for
-- the next request) rather than run it again.
WITH t AS (
    UPDATE user_authtoken SET last_used = now()
    WHERE key_hash = $1 AND (last_used IS NULL OR last_used < now() - interval '1 hour')
    RETURNING user_id
)
INSERT INTO auth_user_activity (user_id, day)
SELECT user_id, (now() AT TIME ZONE 'UTC')::date FROM t
ON CONFLICT DO NOTHING

-- name: users_taken retry
-- Which of username ($1) and email ($2) are already in use.
SELECT bool_or(lower(username) = lower($1)), bool_or(lower(email) = lower($2))
FROM auth_user
WHERE lower(username) = lower($1) OR lower(email) = lower($2)

-- name: users_create
-- A new user and their first token, in one statement, and their first day
-- of activity (auth_user_activity): the user's JSON, id.
WITH u AS (
    INSERT INTO auth_user (username, email, password, first_name, last_name, last_login)
    VALUES ($1, $2, $3, coalesce($4, ''), coalesce($5, ''), now())
    RETURNING *
), t AS (
    INSERT INTO user_authtoken (key_hash, user_id) SELECT $6, id FROM u
), a AS (
    INSERT INTO auth_user_activity (user_id, day)
    SELECT id, (now() AT TIME ZONE 'UTC')::date FROM u
)
SELECT json_build_object('id', id, 'username', username, 'email', email,
                         'email_verified', email_verified,
                         'first_name', first_name, 'last_name', last_name,
                         'is_staff', is_staff, 'date_joined', date_joined,
                         'last_login', last_login), id
FROM u

-- name: users_login_lookup retry
-- Login accepts the username or the email address: with an '@' it is the
-- address (a username cannot hold one; one made before that rule cannot
-- take an address from its owner), else the username.
SELECT id, password
FROM auth_user
WHERE CASE WHEN strpos($1::text, '@') > 0 THEN lower(email) = lower($1::text)
           ELSE lower(username) = lower($1::text) END
  AND is_active
ORDER BY id
LIMIT 1

-- name: tokens_create
-- A new token for user $2 (a login), who is active today (UTC: one
-- auth_user_activity row per day at most); returns the user's JSON.
WITH t AS (
    INSERT INTO user_authtoken (key_hash, user_id) VALUES ($1, $2)
), a AS (
    INSERT INTO auth_user_activity (user_id, day) VALUES ($2, (now() AT TIME ZONE 'UTC')::date)
    ON CONFLICT DO NOTHING
), u AS (
    UPDATE auth_user SET last_login = now() WHERE id = $2 RETURNING *
)
SELECT json_build_object('id', id, 'username', username, 'email', email,
                         'email_verified', email_verified,
                         'first_name', first_name, 'last_name', last_name,
                         'is_staff', is_staff, 'date_joined', date_joined,
                         'last_login', last_login)
FROM u

-- name: tokens_delete
-- Logout, or a token found expired (authn.c).
DELETE FROM user_authtoken WHERE key_hash = $1

-- name: users_me retry
SELECT json_build_object('id', id, 'username', username, 'email', email,
                         'email_verified', email_verified,
                         'first_name', first_name, 'last_name', last_name,
                         'is_staff', is_staff, 'date_joined', date_joined,
                         'last_login', last_login)
FROM auth_user
WHERE id = $1

-- name: users_password retry
-- The password hash of active user $1 (password change, account deletion).
SELECT password FROM auth_user WHERE id = $1 AND is_active

-- name: users_email_is retry
-- Whether $2 is active user $1's address already, in any case (then a
-- PATCH of it changes nothing that needs the password). No row for an
-- unknown or inactive user.
SELECT lower(email) = lower($2::text) FROM auth_user WHERE id = $1 AND is_active

-- name: users_update_me
-- User $1 changes any of username, email, first_name, last_name ($2, the
-- validated fields as jsonb). Username and email stay unique whatever their
-- case; a new address (not just a new case) is unverified. One row: the
-- user's JSON (NULL when a taken field refused the change), whether the
-- username and the email are taken by someone else, whether the address
-- changed, and the address before with whether it was verified (the
-- notice of a change goes there only if it was).
WITH p AS (
    SELECT $2::jsonb AS j
), cur AS (
    SELECT id, email, email_verified FROM auth_user WHERE id = $1 AND is_active FOR UPDATE
), taken AS (
    SELECT coalesce(bool_or(lower(a.username) = lower(p.j ->> 'username')), false) AS username,
           coalesce(bool_or(lower(a.email) = lower(p.j ->> 'email')), false) AS email
    FROM p
    LEFT JOIN auth_user a ON a.id <> $1 AND (lower(a.username) = lower(p.j ->> 'username')
                                             OR lower(a.email) = lower(p.j ->> 'email'))
), upd AS (
    UPDATE auth_user u
    SET username = coalesce(p.j ->> 'username', u.username),
        email = coalesce(p.j ->> 'email', u.email),
        first_name = coalesce(p.j ->> 'first_name', u.first_name),
        last_name = coalesce(p.j ->> 'last_name', u.last_name),
        email_verified = u.email_verified
                         AND lower(coalesce(p.j ->> 'email', u.email)) = lower(u.email)
    FROM p, taken, cur
    WHERE u.id = cur.id AND NOT taken.username AND NOT taken.email
    RETURNING u.*, lower(u.email) <> lower(cur.email) AS email_changed
)
SELECT (SELECT json_build_object('id', id, 'username', username, 'email', email,
                                 'email_verified', email_verified,
                                 'first_name', first_name, 'last_name', last_name,
                                 'is_staff', is_staff, 'date_joined', date_joined,
                                 'last_login', last_login)
        FROM upd),
       taken.username, taken.email, coalesce((SELECT email_changed FROM upd), false),
       (SELECT email FROM cur), coalesce((SELECT email_verified FROM cur), false)
FROM taken

-- name: password_change
-- Active user $1 gets password hash $2; every token but $3 (the one in use)
-- and any pending reset code die. One row per revoked token: its hash.
WITH u AS (
    UPDATE auth_user SET password = $2 WHERE id = $1 AND is_active RETURNING id
), codes AS (
    DELETE FROM user_verificationcode c USING u
    WHERE c.user_id = u.id AND c.purpose = 'password_reset'
)
DELETE FROM user_authtoken t USING u
WHERE t.user_id = u.id AND t.key_hash <> $3
RETURNING t.key_hash

-- name: users_by_email retry
-- The active user whose email address is $1 (any case), for a reset.
SELECT id FROM auth_user WHERE lower(email) = lower($1) AND is_active

-- name: codes_issue
-- Give active user $1 a code of purpose $2 (its keyed hash $3) for their
-- current address, valid $4 seconds, replacing their earlier code of that
-- purpose, unless that one went to the same address less than $5 seconds
-- ago (a repeated request sends nothing); an address already verified
-- gets no verify_email code. No row for an unknown or inactive user; else
-- one row: the address, the name to greet, the new code's expiry as
-- RFC 3339 (NULL when none was issued), the seconds until one may be
-- issued again (0 when it was, or when nothing holds it back), and
-- whether the address is verified.
WITH u AS (
    SELECT id, email, email_verified,
           CASE WHEN first_name <> '' THEN first_name ELSE username END AS name
    FROM auth_user
    WHERE id = $1 AND is_active
), prev AS (
    SELECT created_at FROM user_verificationcode WHERE user_id = $1 AND purpose = $2
), c AS (
    INSERT INTO user_verificationcode AS c (user_id, purpose, email, code_hash, expires_at)
    SELECT id, $2, email, $3, now() + make_interval(secs => $4::int)
    FROM u
    WHERE NOT ($2 = 'verify_email' AND u.email_verified)
    ON CONFLICT (user_id, purpose) DO UPDATE
    SET email = EXCLUDED.email, code_hash = EXCLUDED.code_hash, attempts = 0,
        created_at = now(), expires_at = EXCLUDED.expires_at
    WHERE c.created_at <= now() - make_interval(secs => $5::int)
       OR lower(c.email) <> lower(EXCLUDED.email)
    RETURNING expires_at
)
SELECT u.email, u.name,
       to_char(c.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       CASE WHEN c.expires_at IS NOT NULL OR prev.created_at IS NULL THEN 0
            ELSE greatest(1, ceil(extract(epoch FROM prev.created_at
                                                   + make_interval(secs => $5::int) - now())))::int
       END,
       u.email_verified
FROM u
LEFT JOIN c ON true
LEFT JOIN prev ON true

-- name: codes_check
-- Try code hash $3 against user $1's live code of purpose $2: sent to the
-- address the user still has, not expired, fewer than $4 wrong attempts.
-- A wrong code counts one attempt. One row (matched or not) when there is a
-- live code; no row when there is none.
WITH c AS (
    SELECT c.id, c.code_hash = $3 AS ok
    FROM user_verificationcode c
    JOIN auth_user u ON u.id = c.user_id
    WHERE c.user_id = $1 AND c.purpose = $2 AND u.is_active AND lower(c.email) = lower(u.email)
      AND c.expires_at > now() AND c.attempts < $4
    FOR UPDATE OF c
), miss AS (
    UPDATE user_verificationcode v SET attempts = v.attempts + 1
    FROM c
    WHERE v.id = c.id AND NOT c.ok
)
SELECT ok FROM c

-- name: verify_email_confirm
-- As codes_check for user $1's verify_email code with hash $2 ($3 attempts
-- allowed); a match consumes the code and verifies the address. One row when
-- there is a live code: matched, then the user's JSON when it matched.
WITH c AS (
    SELECT c.id, c.code_hash = $2 AS ok
    FROM user_verificationcode c
    JOIN auth_user u ON u.id = c.user_id
    WHERE c.user_id = $1 AND c.purpose = 'verify_email' AND u.is_active
      AND lower(c.email) = lower(u.email) AND c.expires_at > now() AND c.attempts < $3
    FOR UPDATE OF c
), miss AS (
    UPDATE user_verificationcode v SET attempts = v.attempts + 1
    FROM c
    WHERE v.id = c.id AND NOT c.ok
), used AS (
    DELETE FROM user_verificationcode v USING c WHERE v.id = c.id AND c.ok
), u AS (
    UPDATE auth_user SET email_verified = true
    FROM c
    WHERE auth_user.id = $1 AND c.ok
    RETURNING auth_user.*
)
SELECT c.ok,
       (SELECT json_build_object('id', id, 'username', username, 'email', email,
                                 'email_verified', email_verified,
                                 'first_name', first_name, 'last_name', last_name,
                                 'is_staff', is_staff, 'date_joined', date_joined,
                                 'last_login', last_login)
        FROM u)
FROM c

-- name: password_reset_apply
-- Consume user $1's live password_reset code with hash $2 ($5 attempts
-- allowed), set password hash $3, revoke every token and create token $4.
-- The address received the code, so it is verified too. No row when the
-- code is no longer live (a concurrent confirmation used it); else one row
-- per revoked token: the user's JSON, the token's hash (NULL when none).
-- Like a login, it records the user as active today (auth_user_activity).
WITH c AS (
    DELETE FROM user_verificationcode c USING auth_user u
    WHERE c.user_id = $1 AND c.purpose = 'password_reset' AND u.id = c.user_id AND u.is_active
      AND lower(c.email) = lower(u.email) AND c.expires_at > now() AND c.attempts < $5
      AND c.code_hash = $2
    RETURNING c.user_id
), u AS (
    UPDATE auth_user SET password = $3, email_verified = true, last_login = now()
    FROM c
    WHERE auth_user.id = c.user_id
    RETURNING auth_user.*
), old AS (
    DELETE FROM user_authtoken t USING c WHERE t.user_id = c.user_id RETURNING t.key_hash
), new AS (
    INSERT INTO user_authtoken (key_hash, user_id) SELECT $4, user_id FROM c
), a AS (
    INSERT INTO auth_user_activity (user_id, day)
    SELECT user_id, (now() AT TIME ZONE 'UTC')::date FROM c
    ON CONFLICT DO NOTHING
)
SELECT json_build_object('id', u.id, 'username', u.username, 'email', u.email,
                         'email_verified', u.email_verified,
                         'first_name', u.first_name, 'last_name', u.last_name,
                         'is_staff', u.is_staff, 'date_joined', u.date_joined,
                         'last_login', u.last_login),
       old.key_hash
FROM u
LEFT JOIN old ON true

-- name: users_delete
-- Delete user $1 and everything that is only theirs, in one statement: each
-- residence they own passes to its longest-standing other member (the new
-- owner) or, with no other member, is deleted with its tasks; their
-- memberships, tokens, codes and idempotency keys go (by cascade where the
-- schema says so); tasks and completions they made in residences that stay
-- keep their history without them (created_by/completed_by NULL).
-- Rows: one per revoked token, its hash (NULL when none), with every user
-- whose lists change (the members of their residences, themself included)
-- as an int array on each row. No row when $1 is no active user.
WITH me AS (
    SELECT id FROM auth_user WHERE id = $1 AND is_active FOR UPDATE
), mine AS (
    SELECT m.residence_id FROM residence_residence_users m JOIN me ON m.user_id = me.id
), affected AS (
    SELECT array_append(coalesce(array_agg(DISTINCT m.user_id)
                                     FILTER (WHERE m.user_id <> $1), '{}'),
                        $1::bigint) AS ids
    FROM residence_residence_users m
    WHERE m.residence_id IN (SELECT residence_id FROM mine)
), heirs AS (
    SELECT DISTINCT ON (r.id) r.id AS residence_id, m.user_id AS heir
    FROM residence_residence r
    JOIN me ON r.owner_id = me.id
    JOIN residence_residence_users m ON m.residence_id = r.id AND m.user_id <> me.id
    ORDER BY r.id, m.joined_at, m.user_id
), moved AS (
    UPDATE residence_residence r SET owner_id = h.heir, updated_at = now()
    FROM heirs h
    WHERE r.id = h.residence_id
), dropped AS (
    DELETE FROM residence_residence r USING me
    WHERE r.owner_id = me.id AND r.id NOT IN (SELECT residence_id FROM heirs)
), tokens AS (
    DELETE FROM user_authtoken t USING me WHERE t.user_id = me.id RETURNING t.key_hash
), gone AS (
    DELETE FROM auth_user u USING me WHERE u.id = me.id
)
SELECT tokens.key_hash, affected.ids
FROM me
CROSS JOIN affected
LEFT JOIN tokens ON true
