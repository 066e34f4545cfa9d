//! The command line, as clap definitions. Only this binary knows flags and exit codes.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use cordon_domain::{Kind, Role, Severity, Status};

#[derive(Debug, Parser)]
#[command(
    name = "cordon",
    version,
    about = "Secure incident response: contain first, communicate late, keep a record that holds up."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Directory holding the SQLite database, the signing key and the checkpoint witness
    /// [default: ./cordon-data].
    #[arg(long, global = true, env = "CORDON_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// A postgres:// URL selects PostgreSQL instead of the SQLite file in the data directory.
    #[arg(long, global = true, env = "CORDON_DATABASE_URL", hide_env_values = true)]
    pub database: Option<String>,
    /// Who you are: the person the journal records for your actions.
    #[arg(long = "as", global = true, env = "CORDON_USER", value_name = "NAME")]
    pub actor: Option<String>,
    /// Talk to a Cordon server instead of the local data directory, e.g. https://cordon.example.com.
    #[arg(long, global = true, env = "CORDON_SERVER")]
    pub server: Option<String>,
    /// API token for --server (create one in the web UI or with POST /api/v1/tokens).
    #[arg(long, global = true, env = "CORDON_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON instead of tables, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Cordon server (web UI and API) on the data directory or PostgreSQL.
    Serve(ServeArgs),
    /// Server configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Declare, list and inspect incidents.
    #[command(subcommand)]
    Incident(IncidentCommand),
    /// Move playbook steps along.
    #[command(subcommand)]
    Step(StepCommand),
    /// Record a decision a gate depends on (e.g. containment-not-quick-fix).
    #[command(subcommand)]
    Decision(DecisionCommand),
    /// Override a gate (incident commander only, with a reason).
    #[command(subcommand)]
    Gate(GateCommand),
    /// Assign and revoke incident roles.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Manage who is on the incident (need-to-know).
    #[command(subcommand)]
    Member(MemberCommand),
    /// Show an incident's journal: who did what, when, and why.
    Journal(IncidentArg),
    /// Verify the tamper-evident journal.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The evidence locker: content-addressed, write-once, with chain of custody.
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// Show or check playbooks.
    #[command(subcommand)]
    Playbook(PlaybookCommand),
    /// Hunt through logs offline with Sigma rules and indicators (exit 0 none, 1 found, 2 error).
    Hunt(crate::hunt::HuntArgs),
    /// Services that raise alerts, with their escalation policy and routing rules (needs --server).
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Intake endpoints bound to a service: PagerDuty Events v2, Alertmanager, signed webhooks.
    #[command(subcommand)]
    Integration(IntegrationCommand),
    /// Escalation policies: who is paged, level by level, until someone acknowledges.
    #[command(subcommand)]
    Policy(DefinitionCommand),
    /// On-call schedules: rotation layers and overrides.
    #[command(subcommand)]
    Schedule(DefinitionCommand),
    /// Who a schedule has on call now, or at --at.
    Oncall(OncallArgs),
    /// How Cordon reaches you: email, signed webhook, Slack-compatible webhook.
    #[command(subcommand)]
    Contact(ContactCommand),
    /// Alerts: list, show who was paged, acknowledge, resolve.
    #[command(subcommand)]
    Alert(AlertCommand),
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    List,
    /// Create or replace a service.
    Put {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// The escalation policy that pages for this service's alerts.
        #[arg(long)]
        policy: Option<String>,
        /// Security-sensitive: every alert opens or joins a restricted, codenamed incident.
        #[arg(long)]
        security: bool,
        /// What an alert leads to when no rule matches: alert, incident or security.
        #[arg(long)]
        outcome: Option<String>,
        /// Routing rules, a JSON or TOML file: a list of {field, equals|contains|contains_any, then}.
        #[arg(long)]
        rules: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum IntegrationCommand {
    List,
    /// Add an integration; its key (and a webhook's signing secret) is shown only now.
    Add {
        service: String,
        /// pagerduty, alertmanager or webhook.
        #[arg(long)]
        kind: String,
        /// For webhooks: a JSON or TOML file of JSON Pointers (dedup_key, summary, source, severity, action, group).
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// Events a minute before the key is answered 429.
        #[arg(long)]
        rate_per_minute: Option<u32>,
    },
    Remove {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DefinitionCommand {
    List,
    /// Create or replace one from a JSON or TOML file (its `name` names it).
    Put {
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct OncallArgs {
    pub schedule: String,
    /// An RFC 3339 time, e.g. 2026-03-29T01:30:00Z [default: now].
    #[arg(long)]
    pub at: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ContactCommand {
    List {
        /// Administrators: someone else's.
        #[arg(long)]
        person: Option<String>,
    },
    Add {
        #[arg(long, group = "channel")]
        email: Option<String>,
        /// A URL receiving signed JSON (X-Cordon-Signature, HMAC-SHA256 under --secret).
        #[arg(long, group = "channel", requires = "secret")]
        webhook: Option<String>,
        #[arg(long)]
        secret: Option<String>,
        /// A Slack-compatible incoming webhook URL.
        #[arg(long, group = "channel")]
        slack: Option<String>,
        /// Administrators: for someone else.
        #[arg(long)]
        person: Option<String>,
    },
    Remove {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    List {
        /// Only alerts not resolved.
        #[arg(long)]
        open: bool,
    },
    /// One alert and who it paged when.
    Show {
        id: String,
    },
    /// Stop an alert's escalation.
    Ack {
        id: String,
    },
    Resolve {
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct IncidentArg {
    /// Incident id, a unique id prefix (4+ characters), or a codename.
    pub incident: String,
}

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Declare an incident. Not sure it is a security incident? Declare it as one; the
    /// incident commander decides.
    Open {
        #[arg(long, default_value = "security")]
        kind: Kind,
        #[arg(long, default_value = "sev-2")]
        severity: Severity,
        #[arg(long)]
        title: String,
        /// A team's own playbook file (TOML) instead of the built-in one.
        #[arg(long)]
        playbook: Option<PathBuf>,
    },
    /// List the incidents you may see.
    List,
    /// Show an incident with its playbook board.
    Show(IncidentArg),
    /// Move the incident forward: contained, resolved, closed.
    Status {
        #[command(flatten)]
        incident: IncidentArg,
        status: Status,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Change the severity.
    Severity {
        #[command(flatten)]
        incident: IncidentArg,
        severity: Severity,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

#[derive(Debug, Args)]
pub struct StepArgs {
    #[command(flatten)]
    pub incident: IncidentArg,
    /// The step number, as the playbook lists it.
    pub step: u32,
}

#[derive(Debug, Subcommand)]
pub enum StepCommand {
    /// Start a step (gates apply).
    Start(StepArgs),
    /// Mark a step done (gates apply).
    Done {
        #[command(flatten)]
        step: StepArgs,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Skip a conditional ("only if necessary") step, with a reason.
    Skip {
        #[command(flatten)]
        step: StepArgs,
        #[arg(long)]
        reason: String,
    },
    /// Mark a step not applicable to this incident, with a reason.
    #[command(name = "not-applicable", alias = "na")]
    NotApplicable {
        #[command(flatten)]
        step: StepArgs,
        #[arg(long)]
        reason: String,
    },
    /// Record that a done step's findings were checked (steps 5 and 6 gate step 14).
    Validate {
        #[command(flatten)]
        step: StepArgs,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Reopen a settled step (incident commander, with a reason).
    Reopen {
        #[command(flatten)]
        step: StepArgs,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DecisionCommand {
    /// Record a decision, with a reason.
    Record {
        #[command(flatten)]
        incident: IncidentArg,
        /// The decision id, e.g. containment-not-quick-fix or attack-not-internal.
        decision: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum GateCommand {
    /// Override the gate on a step. The gate id may be left out when the step has one gate.
    Override {
        #[command(flatten)]
        step: StepArgs,
        gate: Option<String>,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Args)]
pub struct PersonArgs {
    #[command(flatten)]
    pub incident: IncidentArg,
    pub person: String,
}

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Give a person a role (this also makes them a member).
    Assign {
        #[command(flatten)]
        who: PersonArgs,
        role: Role,
    },
    /// Take a role away.
    Revoke {
        #[command(flatten)]
        who: PersonArgs,
        role: Role,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Add a person to the incident: they may now see it.
    Add(PersonArgs),
    /// Remove a member, with a reason.
    Remove {
        #[command(flatten)]
        who: PersonArgs,
        #[arg(long)]
        reason: String,
    },
    /// Exclude a person (e.g. a suspected insider): out whatever roles they hold.
    Exclude {
        #[command(flatten)]
        who: PersonArgs,
        #[arg(long)]
        reason: String,
    },
    /// Lift an exclusion, with a reason.
    Reinstate {
        #[command(flatten)]
        who: PersonArgs,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every hash chain, checkpoint signature and the witness; name the first
    /// entry that does not verify. Exit code 1 when anything fails.
    Verify {
        /// Verify against this public key (hex) instead of the data directory's own key.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Print the public key that verifies this installation's checkpoints.
    PublicKey,
    /// Print the latest signed checkpoint, to keep a copy somewhere else.
    Checkpoint,
}

#[derive(Debug, Subcommand)]
pub enum PlaybookCommand {
    /// Print a built-in playbook (security or operational) as the TOML it ships as.
    Show { kind: Kind },
    /// Check a playbook file and report the first problem with its line and column.
    Check { file: PathBuf },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML configuration file (see `cordon config example`).
    #[arg(long, env = "CORDON_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address for the web UI and API, e.g. 127.0.0.1:8080.
    #[arg(long)]
    pub listen: Option<String>,
    /// Address for Prometheus metrics, e.g. 127.0.0.1:9464.
    #[arg(long)]
    pub metrics_listen: Option<String>,
    /// The address people use to reach Cordon, for links.
    #[arg(long)]
    pub public_url: Option<String>,
    /// Log format: text or json.
    #[arg(long)]
    pub log_format: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a commented example configuration file.
    Example,
    /// Load and validate the configuration, and print what it resolves to.
    Check(ServeArgs),
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Store a file (disk or memory image, log archive, screenshot...) as evidence. It is
    /// streamed, hashed (SHA-256, SHA-1, MD5) and stored read-only; the collection is journaled.
    Add {
        file: PathBuf,
        #[arg(long)]
        incident: String,
        /// Where it was taken from, e.g. "host db-3, /dev/xvda1".
        #[arg(long)]
        source: String,
        /// Who collected it [default: you].
        #[arg(long)]
        collected_by: Option<String>,
        /// When it was collected, RFC 3339 [default: now].
        #[arg(long)]
        collected_at: Option<String>,
        /// TLP 2.0 marking: TLP:RED, TLP:AMBER+STRICT, TLP:AMBER, TLP:GREEN or TLP:CLEAR.
        #[arg(long, default_value = "TLP:AMBER+STRICT")]
        tlp: String,
        /// The name to record [default: the file name].
        #[arg(long)]
        name: Option<String>,
        /// With --server: continue the resumable upload with this id (printed when an upload
        /// starts) from where the server says it stopped, instead of starting again.
        #[arg(long, value_name = "UPLOAD")]
        resume: Option<String>,
    },
    /// List an incident's evidence with hashes and custody.
    List {
        #[arg(long)]
        incident: String,
    },
    /// Copy an item out, re-verifying its hash; the access is journaled, a mismatch raises an
    /// integrity alarm.
    Get {
        /// The item's SHA-256 (or its first 8+ hex digits).
        sha256: String,
        #[arg(long)]
        incident: String,
        #[arg(long)]
        out: PathBuf,
        /// Why you need it (journaled).
        #[arg(long)]
        purpose: String,
    },
    /// Record that an item was handed to a third party outside Cordon.
    HandOver {
        sha256: String,
        #[arg(long)]
        incident: String,
        #[arg(long)]
        recipient: String,
        #[arg(long, default_value = "")]
        organization: String,
        #[arg(long)]
        reason: String,
    },
    /// Place an item under legal hold: kept whatever any retention period says, until released
    /// (incident commander or legal counsel). Cordon deletes nothing; a hold tells a disposal
    /// process outside it what it must keep.
    Hold {
        sha256: String,
        #[arg(long)]
        incident: String,
        /// The matter, e.g. a case number or the order.
        #[arg(long)]
        reason: String,
    },
    /// Release an item's legal hold (incident commander or legal counsel).
    Release {
        sha256: String,
        #[arg(long)]
        incident: String,
        #[arg(long)]
        reason: String,
    },
    /// Keep an item at least until a date (incident commander or legal counsel). A retention
    /// period is only ever extended.
    Retain {
        sha256: String,
        #[arg(long)]
        incident: String,
        /// A date (2033-01-31) or an RFC 3339 time.
        #[arg(long)]
        until: String,
        #[arg(long)]
        reason: String,
    },
    /// Re-hash every item of the incidents you may see and journal the result.
    Verify,
    /// Write a signed bundle: manifest, objects, chain of custody, journal.
    Export {
        #[arg(long)]
        incident: String,
        #[arg(long)]
        out: PathBuf,
        /// Compress with gzip (disk images rarely shrink much).
        #[arg(long)]
        gzip: bool,
    },
    /// Check a bundle offline, with only this binary: files, manifest, signature, journal chain.
    VerifyBundle {
        bundle: PathBuf,
        /// The installation's public key (hex), to check who signed it.
        #[arg(long)]
        public_key: Option<String>,
    },
}
