//! Paging: alerts in, the right people paged, incidents opened.
//!
//! The pipeline, each stage durable in the store before the next runs:
//!
//! 1. **Intake** ([`intake`]): an endpoint hands a validated [`Signal`] to [`Paging::accept`],
//!    which checks the integration key and the key's token bucket, then queues it for the
//!    group-commit writer. The sender hears 202 only after the transaction holding its event is
//!    committed; one disk sync covers every event that arrived meanwhile.
//! 2. **Processing** ([`engine`]): pending events are applied in arrival order. A trigger opens
//!    an alert or counts against the open one with its dedup key; acknowledge and resolve act
//!    on it. The service's routing rules decide whether a new alert opens (or joins) an
//!    operational or a security incident; a security incident is declared under a fresh
//!    codename, restricted to the people it pages.
//! 3. **Escalation**: one durable timer per alert walks its escalation policy level by level
//!    until someone acknowledges; each step writes one outbox row per person and contact.
//! 4. **Dispatch**: the outbox is sent by email, signed webhook or Slack webhook, retried with
//!    back-off, throttled per person and bundled in a storm. What a page about a security
//!    incident says is only its codename, severity and a link.

mod alerts;
mod engine;
mod intake;

use std::collections::BTreeMap;
use std::sync::Arc;

use cordon_domain::{Person, Severity, Timestamp};
use cordon_intake::{Mapping, Outcome, Rule};
use cordon_notify::LinkSigner;
use cordon_oncall::Schedule;
use cordon_oncall::escalation::EscalationPolicy;
use cordon_store::{ContactRow, Definition, DefinitionKind, IntegrationRow, ServiceRow, Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::Service;

pub use alerts::AlertView;
pub use engine::Engine;
pub use intake::{IntakeError, IntegrationKind};

/// The name Cordon itself acts under in incident journals when the alert pipeline declares an
/// incident or adds the people it pages. No account may take it.
pub const SYSTEM_ACTOR: &str = "cordon";

/// The escalation policy that pages the security on-call when a rule turns an alert from an
/// ordinary service into a security incident.
pub const SECURITY_POLICY: &str = "security";

/// What a service is and how its alerts are routed, as an administrator writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub escalation_policy: Option<String>,
    /// Security-sensitive: every alert opens or joins a security incident.
    #[serde(default)]
    pub security: bool,
    /// What an alert leads to when no rule matches (`alert` unless security-sensitive).
    #[serde(default)]
    pub default_outcome: Option<Outcome>,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// A service as stored, with its rules parsed.
#[derive(Debug, Clone)]
pub struct PagingService {
    pub spec: ServiceSpec,
    pub created_at: Timestamp,
}

impl PagingService {
    fn from_row(row: ServiceRow) -> Result<PagingService, PagingError> {
        let rules: Vec<Rule> = serde_json::from_str(&row.rules)
            .map_err(|err| PagingError::Stored(format!("service {}: rules: {err}", row.name)))?;
        let default_outcome = Outcome::from_word(&row.default_outcome)
            .ok_or_else(|| PagingError::Stored(format!("service {}: outcome {}", row.name, row.default_outcome)))?;
        Ok(PagingService {
            spec: ServiceSpec {
                name: row.name,
                description: row.description,
                escalation_policy: row.escalation_policy,
                security: row.security,
                default_outcome: Some(default_outcome),
                rules,
            },
            created_at: row.created_at,
        })
    }

    /// What an alert leads to when no rule matches.
    pub fn default_outcome(&self) -> Outcome {
        if self.spec.security {
            Outcome::Security
        } else {
            self.spec.default_outcome.unwrap_or(Outcome::Alert)
        }
    }
}

/// PagerDuty's four severities on Cordon's five-level scale.
pub fn incident_severity(severity: cordon_intake::pagerduty::Severity) -> Severity {
    use cordon_intake::pagerduty::Severity as Alert;
    match severity {
        Alert::Critical => Severity::Sev1,
        Alert::Error => Severity::Sev2,
        Alert::Warning => Severity::Sev3,
        Alert::Info => Severity::Sev4,
    }
}

/// A new integration and its key, shown once.
#[derive(Debug)]
pub struct NewIntegration {
    pub row: IntegrationRow,
    pub key: cordon_auth::secret::Secret,
    /// The HMAC secret a generic webhook signs with, shown once.
    pub secret: Option<cordon_auth::secret::Secret>,
}

/// Rate limit for a new integration unless told otherwise: PagerDuty's 120 events a minute
/// per key would throttle an alert storm Cordon can absorb, so the default is higher. The
/// bucket holds ten seconds' worth (1,000 events at the default).
pub const DEFAULT_RATE_PER_MINUTE: u32 = 6_000;

#[derive(Debug, thiserror::Error)]
pub enum PagingError {
    #[error("{0}")]
    Invalid(String),
    #[error("no {what} named {name:?}")]
    Unknown { what: &'static str, name: String },
    #[error("stored paging data is not valid: {0}")]
    Stored(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot draw random bytes: {0}")]
    Random(String),
}

/// The paging use cases over one store. Cheap to clone; [`Paging::start`] runs the pipeline.
#[derive(Clone)]
pub struct Paging<S> {
    service: Service<S>,
    intake: Arc<intake::Intake>,
    /// Where people open Cordon, for links in notifications.
    public_url: String,
    /// The link-signing key, read (or created) once.
    signer: Arc<tokio::sync::OnceCell<LinkSigner>>,
}

impl<S: Store> Paging<S> {
    pub fn new(service: Service<S>, public_url: &str) -> Paging<S> {
        Paging {
            service,
            intake: Arc::new(intake::Intake::default()),
            public_url: public_url.trim_end_matches('/').to_owned(),
            signer: Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    pub fn store(&self) -> &S {
        self.service.store()
    }

    pub fn incidents(&self) -> &Service<S> {
        &self.service
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Creates or replaces a service after checking its rules and policy name.
    pub async fn put_service(&self, spec: ServiceSpec, now: Timestamp) -> Result<PagingService, PagingError> {
        check_name("service", &spec.name)?;
        if let Some(policy) = &spec.escalation_policy {
            self.policy(policy).await?;
        }
        let existing = self.services().await?.into_iter().find(|s| s.spec.name == spec.name);
        let created_at = existing.map_or(now, |s| s.created_at);
        let outcome = if spec.security {
            Outcome::Security
        } else {
            spec.default_outcome.unwrap_or(Outcome::Alert)
        };
        let row = ServiceRow {
            name: spec.name.clone(),
            description: spec.description.clone(),
            escalation_policy: spec.escalation_policy.clone(),
            security: spec.security,
            default_outcome: outcome.as_str().to_owned(),
            rules: serde_json::to_string(&spec.rules).map_err(|err| PagingError::Invalid(err.to_string()))?,
            created_at,
        };
        self.store().put_service(&row).await?;
        PagingService::from_row(row)
    }

    pub async fn services(&self) -> Result<Vec<PagingService>, PagingError> {
        self.store()
            .services()
            .await?
            .into_iter()
            .map(PagingService::from_row)
            .collect()
    }

    /// Adds an integration to `service`. The key (and a webhook's signing secret) are returned
    /// once; the store keeps only the key's digest.
    pub async fn add_integration(
        &self,
        service: &str,
        kind: IntegrationKind,
        mapping: Option<Mapping>,
        rate_per_minute: Option<u32>,
        now: Timestamp,
    ) -> Result<NewIntegration, PagingError> {
        if !self.services().await?.iter().any(|s| s.spec.name == service) {
            return Err(PagingError::Unknown {
                what: "service",
                name: service.to_owned(),
            });
        }
        let mapping = match (kind, mapping) {
            (IntegrationKind::Webhook, Some(mapping)) => {
                mapping
                    .validate()
                    .map_err(|invalid| PagingError::Invalid(invalid.to_string()))?;
                Some(mapping)
            }
            (IntegrationKind::Webhook, None) => {
                return Err(PagingError::Invalid(
                    "a webhook integration needs a field mapping (dedup_key and summary at least)".into(),
                ));
            }
            (_, Some(_)) => {
                return Err(PagingError::Invalid(format!(
                    "a {} integration takes no mapping",
                    kind.as_str()
                )));
            }
            (_, None) => None,
        };
        let key = integration_key()?;
        let secret = match kind {
            IntegrationKind::Webhook => Some(random_hex(32)?),
            _ => None,
        };
        let rate = rate_per_minute.unwrap_or(DEFAULT_RATE_PER_MINUTE).max(1);
        let row = IntegrationRow {
            id: random_hex(6)?,
            service: service.to_owned(),
            kind: kind.as_str().to_owned(),
            key_digest: key_digest(&key),
            secret: secret.clone(),
            mapping: mapping
                .map(|m| serde_json::to_string(&m))
                .transpose()
                .map_err(|err| PagingError::Invalid(err.to_string()))?,
            rate_per_minute: rate,
            // Ten seconds' worth of events may arrive at once.
            burst: (rate / 6).max(1),
            created_at: now,
        };
        self.store().add_integration(&row).await?;
        self.intake.forget_integrations();
        Ok(NewIntegration {
            row,
            key: cordon_auth::secret::Secret::new(key),
            secret: secret.map(cordon_auth::secret::Secret::new),
        })
    }

    pub async fn integrations(&self) -> Result<Vec<IntegrationRow>, PagingError> {
        Ok(self.store().integrations().await?)
    }

    pub async fn remove_integration(&self, id: &str) -> Result<(), PagingError> {
        if !self.store().remove_integration(id).await? {
            return Err(PagingError::Unknown {
                what: "integration",
                name: id.to_owned(),
            });
        }
        self.intake.forget_integrations();
        Ok(())
    }

    pub async fn put_policy(&self, policy: EscalationPolicy, now: Timestamp) -> Result<(), PagingError> {
        check_name("escalation policy", &policy.name)?;
        if policy.levels.is_empty() {
            return Err(PagingError::Invalid(format!(
                "escalation policy {:?} has no levels",
                policy.name
            )));
        }
        let schedules = self.schedules().await?;
        for (index, level) in policy.levels.iter().enumerate() {
            if level.targets.is_empty() {
                return Err(PagingError::Invalid(format!(
                    "escalation policy {:?}, level {}: no targets",
                    policy.name,
                    index + 1
                )));
            }
            for target in &level.targets {
                if let cordon_oncall::escalation::Target::Schedule(name) = target {
                    if !schedules.iter().any(|s| &s.name == name) {
                        return Err(PagingError::Unknown {
                            what: "schedule",
                            name: name.clone(),
                        });
                    }
                }
            }
        }
        self.put_definition(DefinitionKind::EscalationPolicy, &policy.name, &policy, now)
            .await
    }

    pub async fn policies(&self) -> Result<Vec<EscalationPolicy>, PagingError> {
        parse_definitions(self.store().definitions(DefinitionKind::EscalationPolicy).await?)
    }

    pub async fn policy(&self, name: &str) -> Result<EscalationPolicy, PagingError> {
        self.policies()
            .await?
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| PagingError::Unknown {
                what: "escalation policy",
                name: name.to_owned(),
            })
    }

    pub async fn put_schedule(&self, schedule: Schedule, now: Timestamp) -> Result<(), PagingError> {
        check_name("schedule", &schedule.name)?;
        schedule
            .validate()
            .map_err(|err| PagingError::Invalid(err.to_string()))?;
        self.put_definition(DefinitionKind::Schedule, &schedule.name, &schedule, now)
            .await
    }

    /// Stores a checked policy or schedule as JSON under its name.
    async fn put_definition(
        &self,
        kind: DefinitionKind,
        name: &str,
        value: &impl Serialize,
        now: Timestamp,
    ) -> Result<(), PagingError> {
        let definition = Definition {
            name: name.to_owned(),
            definition: serde_json::to_string(value).map_err(|err| PagingError::Invalid(err.to_string()))?,
            updated_at: now,
        };
        Ok(self.store().put_definition(kind, &definition).await?)
    }

    pub async fn schedules(&self) -> Result<Vec<Schedule>, PagingError> {
        parse_definitions(self.store().definitions(DefinitionKind::Schedule).await?)
    }

    /// Who `schedule` has on call at `at`, and the shift that makes it so.
    pub async fn on_call(&self, schedule: &str, at: Timestamp) -> Result<Option<cordon_oncall::Shift>, PagingError> {
        let schedule = self
            .schedules()
            .await?
            .into_iter()
            .find(|s| s.name == schedule)
            .ok_or_else(|| PagingError::Unknown {
                what: "schedule",
                name: schedule.to_owned(),
            })?;
        schedule.on_call(at).map_err(|err| PagingError::Stored(err.to_string()))
    }

    /// Adds a way to reach `person`. The channel is checked by the notification crate.
    pub async fn add_contact(
        &self,
        person: &Person,
        channel: cordon_notify::Channel,
        now: Timestamp,
    ) -> Result<ContactRow, PagingError> {
        let row = ContactRow {
            id: random_hex(6)?,
            person: person.as_str().to_owned(),
            channel: serde_json::to_string(&channel).map_err(|err| PagingError::Invalid(err.to_string()))?,
            created_at: now,
        };
        self.store().add_contact(&row).await?;
        Ok(row)
    }

    pub async fn contacts(&self, person: Option<&Person>) -> Result<Vec<ContactRow>, PagingError> {
        Ok(self.store().contacts(person.map(Person::as_str)).await?)
    }

    /// Removes a contact method; people other than administrators may remove only their own.
    pub async fn remove_contact(&self, id: &str, owner: Option<&Person>) -> Result<(), PagingError> {
        let unknown = || PagingError::Unknown {
            what: "contact method",
            name: id.to_owned(),
        };
        let contact = self.store().contact(id).await?.ok_or_else(unknown)?;
        if owner.is_some_and(|owner| owner.as_str() != contact.person) {
            return Err(unknown());
        }
        self.store().remove_contact(id).await?;
        Ok(())
    }
}

fn parse_definitions<T: serde::de::DeserializeOwned>(rows: Vec<Definition>) -> Result<Vec<T>, PagingError> {
    rows.into_iter()
        .map(|row| {
            serde_json::from_str(&row.definition).map_err(|err| PagingError::Stored(format!("{}: {err}", row.name)))
        })
        .collect()
}

fn check_name(what: &str, name: &str) -> Result<(), PagingError> {
    let fine = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if fine {
        Ok(())
    } else {
        Err(PagingError::Invalid(format!(
            "{what} name {name:?} must be 1 to 64 letters, digits, '-', '_' or '.'"
        )))
    }
}

/// A 32-character integration key, as PagerDuty's routing keys are.
fn integration_key() -> Result<String, PagingError> {
    random_hex(16)
}

fn random_hex(bytes: usize) -> Result<String, PagingError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|err| PagingError::Random(err.to_string()))?;
    Ok(hex::encode(buffer))
}

pub(crate) fn key_digest(key: &str) -> String {
    cordon_auth::secret::digest(key)
}

/// The people of each schedule and policy, looked up by name.
pub(crate) struct Directory {
    pub policies: BTreeMap<String, EscalationPolicy>,
    pub schedules: Vec<Schedule>,
}
