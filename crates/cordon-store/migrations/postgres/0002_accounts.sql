-- Accounts. Passwords are argon2id PHC strings; session and API tokens are stored only as
-- SHA-256 digests. The TOTP secret must stay readable to check codes.
CREATE TABLE users (
    name           TEXT PRIMARY KEY,
    role           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    totp_secret    TEXT,
    totp_enabled   BOOLEAN NOT NULL DEFAULT FALSE,
    totp_last_step BIGINT,
    totp_required  BOOLEAN NOT NULL DEFAULT FALSE,
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT NOT NULL
);

CREATE TABLE sessions (
    digest        TEXT PRIMARY KEY,
    user_name     TEXT NOT NULL REFERENCES users (name),
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    second_factor BOOLEAN NOT NULL
);

CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    digest     TEXT NOT NULL UNIQUE,
    user_name  TEXT NOT NULL REFERENCES users (name),
    label      TEXT NOT NULL,
    scope      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked    BOOLEAN NOT NULL DEFAULT FALSE
);
