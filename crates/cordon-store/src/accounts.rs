//! Accounts: users, browser sessions and API tokens, on both backends.

use std::fmt;
use std::future::Future;

use cordon_domain::{GlobalRole, Person, Scope, Timestamp};
use sqlx::Row;

use crate::StoreError;
use crate::backend::{PgStore, SqliteStore, corrupt, db, is_unique_violation};

/// A local account. `Debug` leaves out the password hash and TOTP secret.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub name: Person,
    pub role: GlobalRole,
    pub password_hash: String,
    pub totp_secret: Option<String>,
    pub totp_enabled: bool,
    pub totp_last_step: Option<i64>,
    pub totp_required: bool,
    pub disabled: bool,
    pub created_at: Timestamp,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("totp_enabled", &self.totp_enabled)
            .field("totp_required", &self.totp_required)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// A browser session, found by the digest of its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub digest: String,
    pub user: Person,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Whether the second factor was presented (or none is needed).
    pub second_factor: bool,
}

/// An API token, found by the digest of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: String,
    pub digest: String,
    pub user: Person,
    pub label: String,
    pub scope: Scope,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked: bool,
}

/// Changes an admin may make to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub role: Option<GlobalRole>,
    pub disabled: Option<bool>,
    pub totp_required: Option<bool>,
    pub password_hash: Option<String>,
}

pub trait AccountStore: Send + Sync {
    fn count_users(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Creates the first admin, only while there are no users at all (atomic).
    fn create_first_user(&self, user: &User) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Fails with [`StoreError::Exists`] when the name is taken.
    fn create_user(&self, user: &User) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn user(&self, name: &str) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    fn users(&self) -> impl Future<Output = Result<Vec<User>, StoreError>> + Send;

    /// Returns false when there is no such user.
    fn update_user(&self, name: &str, update: &UserUpdate) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores a TOTP secret awaiting confirmation (`enabled` false), or enables it.
    fn set_totp(
        &self,
        name: &str,
        secret: Option<&str>,
        enabled: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records the TOTP step just used; false when it is not newer than the last (a replay).
    fn use_totp_step(&self, name: &str, step: i64) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn create_session(&self, session: &Session) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn session(&self, digest: &str) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;

    fn delete_session(&self, digest: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn delete_sessions_of(&self, user: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn create_token(&self, token: &ApiToken) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn token_by_digest(&self, digest: &str) -> impl Future<Output = Result<Option<ApiToken>, StoreError>> + Send;

    fn tokens_of(&self, user: &str) -> impl Future<Output = Result<Vec<ApiToken>, StoreError>> + Send;

    /// Returns false when the user has no such token.
    fn revoke_token(&self, user: &str, id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

fn parse_word<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, StoreError> {
    text.parse()
        .map_err(|_| corrupt(format!("{what} {text:?} is not recognised")))
}

fn person(text: String) -> Result<Person, StoreError> {
    Person::new(&text).map_err(|err| corrupt(err.to_string()))
}

macro_rules! impl_account_store {
    ($store:ty, $db:ty) => {
        impl $store {
            fn user_from(row: &<$db as sqlx::Database>::Row) -> Result<User, StoreError> {
                let read = db("reading users");
                let name: String = row.try_get("name").map_err(read)?;
                let role: String = row.try_get("role").map_err(db("reading users"))?;
                Ok(User {
                    name: person(name)?,
                    role: parse_word(&role, "role")?,
                    password_hash: row.try_get("password_hash").map_err(db("reading users"))?,
                    totp_secret: row.try_get("totp_secret").map_err(db("reading users"))?,
                    totp_enabled: row.try_get("totp_enabled").map_err(db("reading users"))?,
                    totp_last_step: row.try_get("totp_last_step").map_err(db("reading users"))?,
                    totp_required: row.try_get("totp_required").map_err(db("reading users"))?,
                    disabled: row.try_get("disabled").map_err(db("reading users"))?,
                    created_at: Timestamp::from_unix_millis(row.try_get("created_at").map_err(db("reading users"))?),
                })
            }

            fn token_from(row: &<$db as sqlx::Database>::Row) -> Result<ApiToken, StoreError> {
                let get = |column: &'static str| -> Result<String, StoreError> {
                    row.try_get::<String, _>(column).map_err(db("reading tokens"))
                };
                let expires_at: Option<i64> = row.try_get("expires_at").map_err(db("reading tokens"))?;
                Ok(ApiToken {
                    id: get("id")?,
                    digest: get("digest")?,
                    user: person(get("user_name")?)?,
                    label: get("label")?,
                    scope: parse_word(&get("scope")?, "scope")?,
                    created_at: Timestamp::from_unix_millis(row.try_get("created_at").map_err(db("reading tokens"))?),
                    expires_at: expires_at.map(Timestamp::from_unix_millis),
                    revoked: row.try_get("revoked").map_err(db("reading tokens"))?,
                })
            }
        }

        impl AccountStore for $store {
            async fn count_users(&self) -> Result<u64, StoreError> {
                let row = sqlx::query("SELECT count(*) AS n FROM users")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db("counting users"))?;
                let count: i64 = row.try_get("n").map_err(db("counting users"))?;
                Ok(u64::try_from(count).unwrap_or(0))
            }

            async fn create_first_user(&self, user: &User) -> Result<bool, StoreError> {
                let result = sqlx::query(
                    "INSERT INTO users (name, role, password_hash, created_at) \
                     SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM users)",
                )
                .bind(user.name.as_str())
                .bind(user.role.as_str())
                .bind(&user.password_hash)
                .bind(user.created_at.unix_millis())
                .execute(self.writer())
                .await
                .map_err(db("creating the first user"))?;
                Ok(result.rows_affected() == 1)
            }

            async fn create_user(&self, user: &User) -> Result<(), StoreError> {
                let result = sqlx::query(
                    "INSERT INTO users (name, role, password_hash, totp_required, disabled, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(user.name.as_str())
                .bind(user.role.as_str())
                .bind(&user.password_hash)
                .bind(user.totp_required)
                .bind(user.disabled)
                .bind(user.created_at.unix_millis())
                .execute(self.writer())
                .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(err) if is_unique_violation(&err) => Err(StoreError::Exists {
                        what: format!("user {}", user.name),
                    }),
                    Err(err) => Err(db("creating a user")(err)),
                }
            }

            async fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
                let row = sqlx::query("SELECT * FROM users WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db("reading users"))?;
                row.as_ref().map(Self::user_from).transpose()
            }

            async fn users(&self) -> Result<Vec<User>, StoreError> {
                let rows = sqlx::query("SELECT * FROM users ORDER BY name")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("reading users"))?;
                rows.iter().map(Self::user_from).collect()
            }

            async fn update_user(&self, name: &str, update: &UserUpdate) -> Result<bool, StoreError> {
                let result = sqlx::query(
                    "UPDATE users SET role = COALESCE($2, role), disabled = COALESCE($3, disabled), \
                     totp_required = COALESCE($4, totp_required), password_hash = COALESCE($5, password_hash) \
                     WHERE name = $1",
                )
                .bind(name)
                .bind(update.role.map(|r| r.as_str()))
                .bind(update.disabled)
                .bind(update.totp_required)
                .bind(update.password_hash.as_deref())
                .execute(self.writer())
                .await
                .map_err(db("updating a user"))?;
                Ok(result.rows_affected() == 1)
            }

            async fn set_totp(&self, name: &str, secret: Option<&str>, enabled: bool) -> Result<(), StoreError> {
                sqlx::query("UPDATE users SET totp_secret = $2, totp_enabled = $3 WHERE name = $1")
                    .bind(name)
                    .bind(secret)
                    .bind(enabled)
                    .execute(self.writer())
                    .await
                    .map_err(db("updating a second factor"))?;
                Ok(())
            }

            async fn use_totp_step(&self, name: &str, step: i64) -> Result<bool, StoreError> {
                let result = sqlx::query(
                    "UPDATE users SET totp_last_step = $2 \
                     WHERE name = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
                )
                .bind(name)
                .bind(step)
                .execute(self.writer())
                .await
                .map_err(db("recording a one-time code"))?;
                Ok(result.rows_affected() == 1)
            }

            async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO sessions (digest, user_name, created_at, expires_at, second_factor) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&session.digest)
                .bind(session.user.as_str())
                .bind(session.created_at.unix_millis())
                .bind(session.expires_at.unix_millis())
                .bind(session.second_factor)
                .execute(self.writer())
                .await
                .map_err(db("creating a session"))?;
                Ok(())
            }

            async fn session(&self, digest: &str) -> Result<Option<Session>, StoreError> {
                let row = sqlx::query("SELECT * FROM sessions WHERE digest = $1")
                    .bind(digest)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db("reading sessions"))?;
                let Some(row) = row else { return Ok(None) };
                let user: String = row.try_get("user_name").map_err(db("reading sessions"))?;
                Ok(Some(Session {
                    digest: row.try_get("digest").map_err(db("reading sessions"))?,
                    user: person(user)?,
                    created_at: Timestamp::from_unix_millis(row.try_get("created_at").map_err(db("reading sessions"))?),
                    expires_at: Timestamp::from_unix_millis(row.try_get("expires_at").map_err(db("reading sessions"))?),
                    second_factor: row.try_get("second_factor").map_err(db("reading sessions"))?,
                }))
            }

            async fn delete_session(&self, digest: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM sessions WHERE digest = $1")
                    .bind(digest)
                    .execute(self.writer())
                    .await
                    .map_err(db("ending a session"))?;
                Ok(())
            }

            async fn delete_sessions_of(&self, user: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM sessions WHERE user_name = $1")
                    .bind(user)
                    .execute(self.writer())
                    .await
                    .map_err(db("ending sessions"))?;
                Ok(())
            }

            async fn create_token(&self, token: &ApiToken) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO api_tokens (id, digest, user_name, label, scope, created_at, expires_at, revoked) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&token.id)
                .bind(&token.digest)
                .bind(token.user.as_str())
                .bind(&token.label)
                .bind(token.scope.as_str())
                .bind(token.created_at.unix_millis())
                .bind(token.expires_at.map(Timestamp::unix_millis))
                .bind(token.revoked)
                .execute(self.writer())
                .await
                .map_err(db("creating a token"))?;
                Ok(())
            }

            async fn token_by_digest(&self, digest: &str) -> Result<Option<ApiToken>, StoreError> {
                let row = sqlx::query("SELECT * FROM api_tokens WHERE digest = $1")
                    .bind(digest)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db("reading tokens"))?;
                row.as_ref().map(Self::token_from).transpose()
            }

            async fn tokens_of(&self, user: &str) -> Result<Vec<ApiToken>, StoreError> {
                let rows = sqlx::query("SELECT * FROM api_tokens WHERE user_name = $1 ORDER BY created_at, id")
                    .bind(user)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("reading tokens"))?;
                rows.iter().map(Self::token_from).collect()
            }

            async fn revoke_token(&self, user: &str, id: &str) -> Result<bool, StoreError> {
                let result = sqlx::query("UPDATE api_tokens SET revoked = TRUE WHERE user_name = $1 AND id = $2")
                    .bind(user)
                    .bind(id)
                    .execute(self.writer())
                    .await
                    .map_err(db("revoking a token"))?;
                Ok(result.rows_affected() == 1)
            }
        }
    };
}

impl_account_store!(SqliteStore, sqlx::Sqlite);
impl_account_store!(PgStore, sqlx::Postgres);
