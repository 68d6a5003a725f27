-- Named queries of fcgi-app/authn.c and handlers/auth.c: users and tokens.
-- A user's public JSON never includes the password hash.

-- name: auth_token_user
-- Every authenticated request: token hash -> active user.
SELECT u.id, u.is_staff
FROM user_authtoken t JOIN auth_user u ON u.id = t.user_id
WHERE t.key_hash = $1 AND u.is_active

-- name: users_taken
-- Which of username ($1) and email ($2) are already in use.
SELECT bool_or(lower(username) = lower($1)), bool_or(lower(email) = lower($2))
FROM auth_user
WHERE lower(username) = lower($1) OR lower(email) = lower($2)

-- name: users_create
-- A new user and their first token, in one statement.
WITH u AS (
    INSERT INTO auth_user (username, email, password, first_name, last_name, last_login)
    VALUES ($1, $2, $3, coalesce($4, ''), coalesce($5, ''), now())
    RETURNING *
), t AS (
    INSERT INTO user_authtoken (key_hash, user_id) SELECT $6, id FROM u
)
SELECT json_build_object('id', id, 'username', username, 'email', email,
                         'first_name', first_name, 'last_name', last_name,
                         'is_staff', is_staff, 'date_joined', date_joined,
                         'last_login', last_login)
FROM u

-- name: users_login_lookup
-- Login accepts the username or the email address.
SELECT id, password
FROM auth_user
WHERE (lower(username) = lower($1) OR lower(email) = lower($1)) AND is_active
ORDER BY id
LIMIT 1

-- name: tokens_create
-- A new token for user $2; returns the user's JSON.
WITH t AS (
    INSERT INTO user_authtoken (key_hash, user_id) VALUES ($1, $2)
), u AS (
    UPDATE auth_user SET last_login = now() WHERE id = $2 RETURNING *
)
SELECT json_build_object('id', id, 'username', username, 'email', email,
                         'first_name', first_name, 'last_name', last_name,
                         'is_staff', is_staff, 'date_joined', date_joined,
                         'last_login', last_login)
FROM u

-- name: tokens_delete
DELETE FROM user_authtoken WHERE key_hash = $1

-- name: users_me
SELECT json_build_object('id', id, 'username', username, 'email', email,
                         'first_name', first_name, 'last_name', last_name,
                         'is_staff', is_staff, 'date_joined', date_joined,
                         'last_login', last_login)
FROM auth_user
WHERE id = $1
