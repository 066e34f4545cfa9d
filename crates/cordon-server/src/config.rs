//! Server configuration: a TOML file, then `CORDON_*` environment variables, then flags, each
//! overriding the one before. Validated once at start; every error names where the bad value
//! came from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The commented example that `cordon config example` prints.
pub const EXAMPLE: &str = r#"# Cordon server configuration. Every key is optional; the values shown are the defaults.
# Environment variables override the file (CORDON_LISTEN, CORDON_METRICS_LISTEN,
# CORDON_DATA_DIR, CORDON_DATABASE_URL, CORDON_PUBLIC_URL, CORDON_LOG_FORMAT), and flags
# override both.

# Where the web UI and the API listen.
listen = "127.0.0.1:8080"

# Prometheus metrics, on their own address so they can stay internal.
metrics_listen = "127.0.0.1:9464"

# Holds the SQLite database, the checkpoint signing key and the checkpoint witness.
# Several nodes on one PostgreSQL must share the same signing.key.
data_dir = "./cordon-data"

# Leave unset for SQLite in data_dir; a postgres:// URL selects PostgreSQL (multi-node).
# database = "postgres://cordon@db.internal/cordon"

# The address people use to reach Cordon, for links (setup link, notifications).
# Defaults to http://<listen>. With https, session cookies are marked Secure.
# public_url = "https://cordon.example.com"

# How long a browser session lasts, in hours (1 to 720).
session_hours = 12

# Largest request body accepted by the API, in bytes.
max_body_bytes = 1048576

# "text" for people, "json" for log pipelines.
log_format = "text"

# Mail for notifications. Without it, email contact methods fail and are shown as failed;
# webhook and Slack contact methods work regardless.
# [smtp]
# host = "smtp.example.com"
# port = 587
# from = "Cordon <cordon@example.com>"
# security = "starttls"        # starttls (required), starttls-opportunistic, tls, none
# username = "cordon"
# password is read from CORDON_SMTP_PASSWORD, never from this file
# ca_file = "/etc/cordon/relay-ca.pem"   # extra CA certificates to trust for the relay
"#;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub metrics_listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database: Option<String>,
    pub public_url: String,
    pub session_hours: u32,
    pub max_body_bytes: usize,
    pub log_format: LogFormat,
    pub smtp: Option<SmtpSettings>,
}

/// The mail relay for notifications. The password comes from `CORDON_SMTP_PASSWORD` only, so
/// it is never in a file someone might share; `Debug` leaves it out.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    pub from: String,
    #[serde(default = "default_smtp_security")]
    pub security: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(skip)]
    pub password: Option<String>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("security", &self.security)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

fn default_smtp_port() -> u16 {
    587
}

fn default_smtp_security() -> String {
    "starttls".to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Values given on the command line; `None` leaves the file and environment in charge.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub metrics_listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database: Option<String>,
    pub public_url: Option<String>,
    pub log_format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    metrics_listen: Option<String>,
    data_dir: Option<PathBuf>,
    database: Option<String>,
    public_url: Option<String>,
    session_hours: Option<u32>,
    max_body_bytes: Option<usize>,
    log_format: Option<String>,
    smtp: Option<SmtpSettings>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key} (from {origin}) is not valid: {problem}")]
    Invalid {
        key: &'static str,
        origin: String,
        problem: String,
    },
}

impl ServerConfig {
    /// Loads the file (if any), applies `env` (pairs of name and value) and `overrides`.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        overrides: Overrides,
    ) -> Result<ServerConfig, ConfigError> {
        let (parsed, file_origin) = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                let parsed: FileConfig = toml::from_str(&text).map_err(|err| ConfigError::Parse {
                    path: path.to_owned(),
                    message: describe_toml_error(&text, &err),
                })?;
                (parsed, format!("config file {}", path.display()))
            }
            None => (FileConfig::default(), "defaults".to_owned()),
        };
        // For each key: flag, then environment, then file, then default; remember the origin.
        let pick =
            |flag: Option<String>, env_name: &'static str, from_file: Option<String>| -> Option<(String, String)> {
                flag.map(|v| (v, "command line".to_owned()))
                    .or_else(|| env(env_name).map(|v| (v, format!("environment {env_name}"))))
                    .or_else(|| from_file.map(|v| (v, file_origin.clone())))
            };
        let (listen_text, listen_origin) = pick(overrides.listen, "CORDON_LISTEN", parsed.listen)
            .unwrap_or_else(|| ("127.0.0.1:8080".to_owned(), "defaults".to_owned()));
        let listen = parse_addr("listen", &listen_text, &listen_origin)?;
        let (metrics_text, metrics_origin) =
            pick(overrides.metrics_listen, "CORDON_METRICS_LISTEN", parsed.metrics_listen)
                .unwrap_or_else(|| ("127.0.0.1:9464".to_owned(), "defaults".to_owned()));
        let metrics_listen = parse_addr("metrics_listen", &metrics_text, &metrics_origin)?;
        let data_dir = pick(
            overrides.data_dir.map(|p| p.display().to_string()),
            "CORDON_DATA_DIR",
            parsed.data_dir.map(|p| p.display().to_string()),
        )
        .map_or_else(|| PathBuf::from("./cordon-data"), |(v, _)| PathBuf::from(v));
        let database = pick(overrides.database, "CORDON_DATABASE_URL", parsed.database);
        if let Some((url, origin)) = &database {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(ConfigError::Invalid {
                    key: "database",
                    origin: origin.clone(),
                    problem: "expected a postgres:// URL (leave it unset for SQLite in data_dir)".to_owned(),
                });
            }
        }
        let public_url = match pick(overrides.public_url, "CORDON_PUBLIC_URL", parsed.public_url) {
            Some((url, origin)) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ConfigError::Invalid {
                        key: "public_url",
                        origin,
                        problem: format!("{url:?} must start with http:// or https://"),
                    });
                }
                url.trim_end_matches('/').to_owned()
            }
            None => format!("http://{listen}"),
        };
        let session_hours = parsed.session_hours.unwrap_or(12);
        if !(1..=720).contains(&session_hours) {
            return Err(ConfigError::Invalid {
                key: "session_hours",
                origin: file_origin,
                problem: format!("{session_hours} is outside 1 to 720"),
            });
        }
        let max_body_bytes = parsed.max_body_bytes.unwrap_or(1024 * 1024);
        if max_body_bytes < 1024 {
            return Err(ConfigError::Invalid {
                key: "max_body_bytes",
                origin: file_origin,
                problem: "must be at least 1024".to_owned(),
            });
        }
        let log_format = match pick(overrides.log_format, "CORDON_LOG_FORMAT", parsed.log_format) {
            None => LogFormat::Text,
            Some((text, origin)) => match text.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => {
                    return Err(ConfigError::Invalid {
                        key: "log_format",
                        origin,
                        problem: format!("{text:?} is neither \"text\" nor \"json\""),
                    });
                }
            },
        };
        let smtp = match parsed.smtp {
            Some(mut smtp) => {
                if !matches!(
                    smtp.security.as_str(),
                    "starttls" | "starttls-opportunistic" | "tls" | "none"
                ) {
                    return Err(ConfigError::Invalid {
                        key: "smtp.security",
                        origin: file_origin,
                        problem: format!(
                            "{:?} is not starttls, starttls-opportunistic, tls or none",
                            smtp.security
                        ),
                    });
                }
                smtp.password = env("CORDON_SMTP_PASSWORD");
                Some(smtp)
            }
            None => None,
        };
        Ok(ServerConfig {
            listen,
            metrics_listen,
            data_dir,
            database: database.map(|(url, _)| url),
            public_url,
            session_hours,
            max_body_bytes,
            log_format,
            smtp,
        })
    }

    /// How notifications are sent: the mail relay, if one is configured.
    pub fn notifier(&self) -> cordon_notify::NotifierConfig {
        let smtp = self.smtp.as_ref().map(|settings| {
            let mut smtp = cordon_notify::SmtpConfig::new(&settings.host, settings.port, &settings.from);
            smtp.security = match settings.security.as_str() {
                "starttls-opportunistic" => cordon_notify::SmtpSecurity::StarttlsOpportunistic,
                "tls" => cordon_notify::SmtpSecurity::ImplicitTls,
                "none" => cordon_notify::SmtpSecurity::Plaintext,
                _ => cordon_notify::SmtpSecurity::StarttlsRequired,
            };
            smtp.username = settings.username.clone();
            smtp.password = settings.password.clone().map(cordon_notify::Secret::new);
            smtp.extra_ca_pem = settings.ca_file.clone();
            smtp
        });
        cordon_notify::NotifierConfig {
            smtp,
            ..cordon_notify::NotifierConfig::default()
        }
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

fn parse_addr(key: &'static str, text: &str, origin: &str) -> Result<SocketAddr, ConfigError> {
    text.parse().map_err(|_| ConfigError::Invalid {
        key,
        origin: origin.to_owned(),
        problem: format!("{text:?} is not an address like 127.0.0.1:8080"),
    })
}

fn describe_toml_error(text: &str, err: &toml::de::Error) -> String {
    match err.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            format!("line {line}: {}", err.message())
        }
        None => err.message().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_example_is_valid_and_gives_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cordon.toml");
        std::fs::write(&path, EXAMPLE).unwrap();
        let from_file = ServerConfig::load(Some(&path), no_env, Overrides::default()).unwrap();
        assert_eq!(
            from_file,
            ServerConfig::load(None, no_env, Overrides::default()).unwrap()
        );
        assert_eq!(from_file.public_url, "http://127.0.0.1:8080");
    }

    #[test]
    fn flags_beat_environment_beat_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cordon.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:1111\"\nmetrics_listen = \"127.0.0.1:2222\"\n",
        )
        .unwrap();
        let env = |name: &str| (name == "CORDON_LISTEN").then(|| "127.0.0.1:3333".to_owned());
        let config = ServerConfig::load(Some(&path), env, Overrides::default()).unwrap();
        assert_eq!((config.listen.port(), config.metrics_listen.port()), (3333, 2222));
        let flags = Overrides {
            listen: Some("127.0.0.1:4444".into()),
            ..Overrides::default()
        };
        assert_eq!(ServerConfig::load(Some(&path), env, flags).unwrap().listen.port(), 4444);
    }

    #[test]
    fn errors_name_the_key_and_where_it_came_from() {
        let env = |name: &str| (name == "CORDON_DATABASE_URL").then(|| "mysql://x".to_owned());
        let err = ServerConfig::load(None, env, Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("database (from environment CORDON_DATABASE_URL) is not valid"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cordon.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\nlisen = 3\n").unwrap();
        let err = ServerConfig::load(Some(&path), no_env, Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2: unknown field `lisen`"), "{err}");
    }
}
