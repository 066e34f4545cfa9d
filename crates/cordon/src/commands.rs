//! Runs a parsed command line against the chosen store.

use std::process::ExitCode;

use anyhow::{Context, bail};
use cordon_app::{DataDir, DeclareRequest, Service};
use cordon_domain::{Event, Person, Playbook, StepId, VerifyingKey};
use cordon_store::{PgStore, SqliteStore};

use crate::cli::{
    AuditCommand, Cli, Command, ConfigCommand, DecisionCommand, EvidenceCommand, GateCommand, Global, IncidentCommand,
    MemberCommand, PersonArgs, PlaybookCommand, RoleCommand, StepArgs, StepCommand,
};
use crate::render;
use crate::target::{GateRefused, Local, Remote, Target};

/// Chooses the backend once, from the database URL, and runs the command on it.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Playbook(command) => return playbook(command),
        Command::Serve(args) => return crate::serve::run(crate::serve::load_config(&cli.global, args)?).await,
        Command::Config(ConfigCommand::Example) => {
            print!("{}", cordon_server::config::EXAMPLE);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Evidence(EvidenceCommand::VerifyBundle { .. }) => {
            if let Command::Evidence(command) = cli.command {
                return crate::evidence::verify_bundle(&cli.global, command);
            }
        }
        Command::Config(ConfigCommand::Check(args)) => {
            let config = crate::serve::load_config(&cli.global, args)?;
            println!("{config:#?}");
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    if crate::paging::handles(&cli.command) {
        return crate::paging::run(&cli.global, cli.command);
    }
    if let Some(server) = cli.global.server.clone() {
        let remote = Remote::new(&server, cli.global.token.as_deref())?;
        if let Command::Evidence(command) = cli.command {
            return crate::evidence::remote(&remote, &cli.global, command).await;
        }
        return execute(&remote, cli).await;
    }
    let data_dir = DataDir::open(
        cli.global
            .data_dir
            .as_deref()
            .unwrap_or(std::path::Path::new("./cordon-data")),
    )?;
    let actor = actor(&cli.global)?;
    match cli.global.database.as_deref() {
        None => {
            let store = SqliteStore::open(&data_dir.database_path()).await?;
            local(Service::new(store, data_dir)?, actor, cli).await
        }
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let store = PgStore::connect(url).await?;
            local(Service::new(store, data_dir)?, actor, cli).await
        }
        Some(_) => bail!(
            "unsupported --database URL: use postgres://user@host/db, or leave it unset for SQLite in the data directory"
        ),
    }
}

async fn local<S: cordon_store::Store>(service: Service<S>, actor: Person, cli: Cli) -> anyhow::Result<ExitCode> {
    let service = match std::env::var("CORDON_EVIDENCE_MAX_BYTES") {
        Ok(limit) => service.with_max_evidence_bytes(
            limit
                .parse()
                .with_context(|| format!("CORDON_EVIDENCE_MAX_BYTES={limit:?} is not a number of bytes"))?,
        ),
        Err(_) => service,
    };
    if let Command::Evidence(command) = cli.command {
        return crate::evidence::run(&service, &actor, &cli.global, command).await;
    }
    execute(&Local { service, actor }, cli).await
}

async fn execute(target: &impl Target, cli: Cli) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    match cli.command {
        Command::Incident(IncidentCommand::Open {
            kind,
            severity,
            title,
            playbook,
        }) => {
            let playbook = match playbook {
                Some(path) => {
                    let text =
                        std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
                    Some(Playbook::parse(&path.display().to_string(), &text)?)
                }
                None => None,
            };
            let request = DeclareRequest {
                kind,
                title,
                severity,
                playbook,
            };
            let incident = target.declare(request).await?;
            print_incident(&global, &incident);
        }
        Command::Incident(IncidentCommand::List) => {
            let rows = target.list().await?;
            if global.json {
                let rows: Vec<_> = rows.iter().map(cordon_server::dto::incident_row).collect();
                println!("{:#}", serde_json::Value::Array(rows));
            } else {
                print!("{}", render::incident_list(&rows));
            }
        }
        Command::Incident(IncidentCommand::Show(arg)) => {
            let incident = target.show(&arg.incident).await?;
            print_incident(&global, &incident);
        }
        Command::Incident(IncidentCommand::Status {
            incident,
            status,
            reason,
        }) => {
            act(
                target,
                &global,
                &incident.incident,
                Event::StatusChanged { status, reason },
            )
            .await?
        }
        Command::Incident(IncidentCommand::Severity {
            incident,
            severity,
            reason,
        }) => {
            act(
                target,
                &global,
                &incident.incident,
                Event::SeverityChanged { severity, reason },
            )
            .await?
        }
        Command::Step(command) => {
            let (args, event) = step_event(command);
            act(target, &global, &args.incident.incident, event).await?;
        }
        Command::Decision(DecisionCommand::Record {
            incident,
            decision,
            reason,
        }) => {
            act(
                target,
                &global,
                &incident.incident,
                Event::DecisionRecorded { decision, reason },
            )
            .await?
        }
        Command::Gate(GateCommand::Override { step, gate, reason }) => {
            let gate = match gate {
                Some(gate) => gate,
                None => only_gate(target, &step).await?,
            };
            let event = Event::GateOverridden {
                step: StepId(step.step),
                gate,
                reason,
            };
            act(target, &global, &step.incident.incident, event).await?;
        }
        Command::Role(command) => {
            let (who, event) = match command {
                RoleCommand::Assign { who, role } => with_person(who, |person| Event::RoleAssigned { person, role }),
                RoleCommand::Revoke { who, role } => with_person(who, |person| Event::RoleRevoked { person, role }),
            }?;
            act(target, &global, &who.incident.incident, event).await?;
        }
        Command::Member(command) => {
            let (who, event) = match command {
                MemberCommand::Add(who) => with_person(who, |person| Event::MemberAdded { person }),
                MemberCommand::Remove { who, reason } => {
                    with_person(who, |person| Event::MemberRemoved { person, reason })
                }
                MemberCommand::Exclude { who, reason } => {
                    with_person(who, |person| Event::MemberExcluded { person, reason })
                }
                MemberCommand::Reinstate { who, reason } => {
                    with_person(who, |person| Event::MemberReinstated { person, reason })
                }
            }?;
            act(target, &global, &who.incident.incident, event).await?;
        }
        Command::Journal(arg) => {
            let (lines, chain_break) = target.journal(&arg.incident).await?;
            if global.json {
                println!("{:#}", cordon_server::dto::journal(&lines, chain_break.as_deref()));
            } else {
                print!("{}", render::journal(&lines, chain_break.as_deref()));
            }
            if chain_break.is_some() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Audit(AuditCommand::Verify { public_key }) => {
            let trusted = public_key.as_deref().map(parse_public_key).transpose()?;
            let outcome = target.audit(trusted).await?;
            if global.json {
                println!("{:#}", outcome.json);
            } else {
                print!("{}", outcome.text);
            }
            if !outcome.ok {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Audit(AuditCommand::PublicKey) => {
            println!("{}", target.public_key().await?);
        }
        Command::Audit(AuditCommand::Checkpoint) => match target.checkpoint().await? {
            Some(checkpoint) => println!("{checkpoint:#}"),
            None => println!("no checkpoint yet: nothing has been recorded"),
        },
        Command::Playbook(command) => return playbook(&command),
        Command::Serve(_)
        | Command::Config(_)
        | Command::Hunt(_)
        | Command::Evidence(_)
        | Command::Service(_)
        | Command::Integration(_)
        | Command::Policy(_)
        | Command::Schedule(_)
        | Command::Oncall(_)
        | Command::Contact(_)
        | Command::Alert(_) => {}
    }
    Ok(ExitCode::SUCCESS)
}

async fn act(target: &impl Target, global: &Global, reference: &str, event: Event) -> anyhow::Result<()> {
    let summary = event.summary();
    let incident = match target.act(reference, event).await {
        Ok(incident) => incident,
        Err(err) => match err.downcast::<GateRefused>() {
            Ok(gate) => bail!(
                "{gate}\nhint: cordon gate override {reference} {} {} --reason \"...\"",
                gate.step,
                gate.gate
            ),
            Err(err) => return Err(err),
        },
    };
    if global.json {
        println!("{:#}", cordon_server::dto::incident(&incident));
    } else {
        let name = incident
            .codename
            .as_ref()
            .map_or_else(|| incident.id.to_string(), ToString::to_string);
        println!("{name}: {summary} (journal entry {})", incident.last_seq);
    }
    Ok(())
}

fn step_event(command: StepCommand) -> (StepArgs, Event) {
    match command {
        StepCommand::Start(args) => on_step(args, |step| Event::StepStarted { step }),
        StepCommand::Done { step, note } => on_step(step, |step| Event::StepCompleted { step, note }),
        StepCommand::Skip { step, reason } => on_step(step, |step| Event::StepSkipped { step, reason }),
        StepCommand::NotApplicable { step, reason } => on_step(step, |step| Event::StepNotApplicable { step, reason }),
        StepCommand::Validate { step, note } => on_step(step, |step| Event::StepValidated { step, note }),
        StepCommand::Reopen { step, reason } => on_step(step, |step| Event::StepReopened { step, reason }),
    }
}

/// The event about the step a command names.
fn on_step(args: StepArgs, make: impl FnOnce(StepId) -> Event) -> (StepArgs, Event) {
    let event = make(StepId(args.step));
    (args, event)
}

/// The event about the person a command names, once the name is known to be valid.
fn with_person(who: PersonArgs, make: impl FnOnce(Person) -> Event) -> anyhow::Result<(PersonArgs, Event)> {
    let event = make(person(&who.person)?);
    Ok((who, event))
}

/// The gate id when the step has exactly one, so `cordon gate override INC 3` suffices.
async fn only_gate(target: &impl Target, args: &StepArgs) -> anyhow::Result<String> {
    let incident = target.show(&args.incident.incident).await?;
    let step = incident
        .playbook
        .step(StepId(args.step))
        .with_context(|| format!("the playbook has no step {}", args.step))?;
    match step.gates.as_slice() {
        [gate] => Ok(gate.id.clone()),
        [] => bail!("step {} has no gate to override", args.step),
        gates => {
            let ids: Vec<&str> = gates.iter().map(|g| g.id.as_str()).collect();
            bail!("step {} has several gates; name one: {}", args.step, ids.join(", "))
        }
    }
}

fn print_incident(global: &Global, incident: &cordon_domain::Incident) {
    if global.json {
        println!("{:#}", cordon_server::dto::incident(incident));
    } else {
        print!("{}", render::incident(incident));
    }
}

fn playbook(command: &PlaybookCommand) -> anyhow::Result<ExitCode> {
    match command {
        PlaybookCommand::Show { kind } => {
            let text = match kind {
                cordon_domain::Kind::Security => cordon_domain::playbook::SECURITY_TOML,
                cordon_domain::Kind::Operational => cordon_domain::playbook::OPERATIONAL_TOML,
            };
            print!("{text}");
        }
        PlaybookCommand::Check { file } => {
            let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
            let playbook = Playbook::parse(&file.display().to_string(), &text)?;
            println!(
                "{}: ok, {} steps, {} kind",
                file.display(),
                playbook.steps.len(),
                playbook.kind
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Who is acting: `--as`, else CORDON_USER, else the login name.
fn actor(global: &Global) -> anyhow::Result<Person> {
    let name = global
        .actor
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|name| !name.is_empty())
        .context("who are you? pass --as NAME or set CORDON_USER")?;
    person(&name)
}

fn person(name: &str) -> anyhow::Result<Person> {
    Ok(Person::new(name)?)
}

pub fn parse_public_key(text: &str) -> anyhow::Result<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .context("--public-key must be 64 hex digits")?;
    VerifyingKey::from_bytes(&bytes).context("--public-key is not a valid ed25519 public key")
}
