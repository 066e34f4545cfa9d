//! `cordon service|integration|policy|schedule|oncall|contact|alert`: on-call and alerts.
//!
//! These commands talk to a running server (`--server` and `--token`): alerts are taken in,
//! escalated and sent by `cordon serve`, so that is where they are managed. Definitions are
//! written as JSON or TOML files and sent as JSON.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::cli::{
    AlertCommand, Command, ContactCommand, DefinitionCommand, Global, IntegrationCommand, ServiceCommand,
};
use crate::render;
use crate::target::{Remote, encode_segment};

/// Whether `command` is one of the paging commands.
pub fn handles(command: &Command) -> bool {
    matches!(
        command,
        Command::Service(_)
            | Command::Integration(_)
            | Command::Policy(_)
            | Command::Schedule(_)
            | Command::Oncall(_)
            | Command::Contact(_)
            | Command::Alert(_)
    )
}

pub fn run(global: &Global, command: Command) -> anyhow::Result<ExitCode> {
    let Some(server) = global.server.as_deref() else {
        bail!(
            "on-call and alert commands talk to a running server, which takes alerts in and pages: pass --server URL and --token (or set CORDON_SERVER and CORDON_TOKEN)"
        );
    };
    let remote = Remote::new(server, global.token.as_deref())?;
    let out = Output { json: global.json };
    match command {
        Command::Service(ServiceCommand::List) => {
            let items = remote.call("GET", "/services", None)?;
            out.list(&items, &["name", "escalation_policy", "security", "default_outcome"]);
        }
        Command::Service(ServiceCommand::Put {
            name,
            description,
            policy,
            security,
            outcome,
            rules,
        }) => {
            let rules = match rules {
                Some(path) => read_definition(&path)?,
                None => json!([]),
            };
            let body = json!({
                "description": description.unwrap_or_default(),
                "escalation_policy": policy,
                "security": security,
                "default_outcome": outcome,
                "rules": rules,
            });
            let service = remote.call("PUT", &format!("/services/{}", encode_segment(&name)), Some(&body))?;
            out.one(&service, &format!("service {name} saved"));
        }
        Command::Integration(IntegrationCommand::List) => {
            let items = remote.call("GET", "/integrations", None)?;
            out.list(&items, &["id", "service", "kind", "rate_per_minute"]);
        }
        Command::Integration(IntegrationCommand::Add {
            service,
            kind,
            mapping,
            rate_per_minute,
        }) => {
            let mapping = mapping.map(|path| read_definition(&path)).transpose()?;
            let body = json!({"kind": kind, "mapping": mapping, "rate_per_minute": rate_per_minute});
            let path = format!("/services/{}/integrations", encode_segment(&service));
            let created = remote.call("POST", &path, Some(&body))?;
            if out.json {
                println!("{created}");
            } else {
                println!(
                    "integration {} added to {service}; shown only now:",
                    text(&created["id"])
                );
                println!("  url:  {}", text(&created["url"]));
                println!("  key:  {}", text(&created["key"]));
                if let Some(secret) = created["secret"].as_str() {
                    println!("  signing secret (X-Cordon-Signature): {secret}");
                }
            }
        }
        Command::Integration(IntegrationCommand::Remove { id }) => {
            remote.call("DELETE", &format!("/integrations/{}", encode_segment(&id)), None)?;
            out.done(&format!("integration {id} removed; its key no longer works"));
        }
        Command::Policy(command) => definitions(&remote, &out, command, "escalation-policies")?,
        Command::Schedule(command) => definitions(&remote, &out, command, "schedules")?,
        Command::Oncall(args) => {
            let mut path = format!("/schedules/{}/on-call", encode_segment(&args.schedule));
            if let Some(at) = &args.at {
                path.push_str(&format!("?at={}", encode_segment(at)));
            }
            let answer = remote.call("GET", &path, None)?;
            if out.json {
                println!("{answer}");
            } else {
                match answer["person"].as_str() {
                    Some(person) => println!(
                        "{person} is on call for {} at {} (shift {} to {}{})",
                        args.schedule,
                        text(&answer["at"]),
                        text(&answer["shift_start"]),
                        text(&answer["shift_end"]),
                        answer["layer"]
                            .as_str()
                            .map(|l| format!(", layer {l}"))
                            .unwrap_or_else(|| ", override".into())
                    ),
                    None => println!("nobody is on call for {} at {}", args.schedule, text(&answer["at"])),
                }
            }
        }
        Command::Contact(ContactCommand::List { person }) => {
            let path = match person {
                Some(person) => format!("/contacts?person={}", encode_segment(&person)),
                None => "/contacts".to_owned(),
            };
            let items = remote.call("GET", &path, None)?;
            out.list(&items, &["id", "person", "kind", "address"]);
        }
        Command::Contact(ContactCommand::Add {
            email,
            webhook,
            secret,
            slack,
            person,
        }) => {
            let channel = match (email, webhook, slack) {
                (Some(address), None, None) => json!({"kind": "email", "address": address}),
                (None, Some(url), None) => json!({"kind": "webhook", "url": url, "secret": secret}),
                (None, None, Some(url)) => json!({"kind": "slack", "url": url}),
                _ => bail!("give one of --email, --webhook (with --secret) or --slack"),
            };
            let created = remote.call(
                "POST",
                "/contacts",
                Some(&json!({"person": person, "channel": channel})),
            )?;
            out.one(&created, &format!("contact method {} added", text(&created["id"])));
        }
        Command::Contact(ContactCommand::Remove { id }) => {
            remote.call("DELETE", &format!("/contacts/{}", encode_segment(&id)), None)?;
            out.done(&format!("contact method {id} removed"));
        }
        Command::Alert(AlertCommand::List { open }) => {
            let items = remote.call("GET", if open { "/alerts?open=true" } else { "/alerts" }, None)?;
            out.list(&items, &["id", "service", "severity", "status", "events", "summary"]);
        }
        Command::Alert(AlertCommand::Show { id }) => {
            let alert = remote.call("GET", &format!("/alerts/{}", encode_segment(&id)), None)?;
            if out.json {
                println!("{alert}");
            } else {
                println!(
                    "{} [{}] {}",
                    text(&alert["id"]),
                    text(&alert["status"]),
                    text(&alert["summary"])
                );
                println!(
                    "service {}, severity {}, {} event(s)",
                    text(&alert["service"]),
                    text(&alert["severity"]),
                    alert["events"]
                );
                let pages = alert["pages"].as_array().cloned().unwrap_or_default();
                let rows: Vec<Vec<String>> = pages
                    .iter()
                    .map(|p| {
                        ["person", "level", "status", "created_at", "sent_at", "error"]
                            .iter()
                            .map(|k| text(&p[*k]))
                            .collect()
                    })
                    .collect();
                print!(
                    "{}",
                    render::table(&["PERSON", "LEVEL", "STATUS", "QUEUED", "SENT", "ERROR"], &rows)
                );
            }
        }
        Command::Alert(AlertCommand::Ack { id }) => {
            let alert = remote.call("POST", &format!("/alerts/{}/acknowledge", encode_segment(&id)), None)?;
            out.one(&alert, &format!("alert {id} acknowledged; escalation stopped"));
        }
        Command::Alert(AlertCommand::Resolve { id }) => {
            let alert = remote.call("POST", &format!("/alerts/{}/resolve", encode_segment(&id)), None)?;
            out.one(&alert, &format!("alert {id} resolved"));
        }
        _ => bail!("not an on-call command"),
    }
    Ok(ExitCode::SUCCESS)
}

fn definitions(remote: &Remote, out: &Output, command: DefinitionCommand, collection: &str) -> anyhow::Result<()> {
    match command {
        DefinitionCommand::List => {
            let items = remote.call("GET", &format!("/{collection}"), None)?;
            if out.json {
                println!("{items}");
            } else {
                for item in items["items"].as_array().cloned().unwrap_or_default() {
                    println!("{}", text(&item["name"]));
                }
            }
        }
        DefinitionCommand::Put { file } => {
            let definition = read_definition(&file)?;
            let Some(name) = definition["name"].as_str() else {
                bail!("{}: the definition needs a `name`", file.display());
            };
            let path = format!("/{collection}/{}", encode_segment(name));
            let saved = remote.call("PUT", &path, Some(&definition))?;
            out.one(&saved, &format!("{name} saved"));
        }
    }
    Ok(())
}

/// A JSON or TOML file (by extension) as JSON, with the file and position on errors.
fn read_definition(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let is_toml = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    if is_toml {
        let value: toml::Value = toml::from_str(&text).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
        Ok(serde_json::to_value(value)?)
    } else {
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

struct Output {
    json: bool,
}

impl Output {
    fn list(&self, answer: &Value, columns: &[&str]) {
        if self.json {
            println!("{answer}");
            return;
        }
        let rows: Vec<Vec<String>> = answer["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|item| columns.iter().map(|c| text(&item[*c])).collect())
                    .collect()
            })
            .unwrap_or_default();
        let header: Vec<String> = columns.iter().map(|c| c.to_uppercase()).collect();
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        print!("{}", render::table(&header, &rows));
    }

    fn one(&self, answer: &Value, message: &str) {
        if self.json {
            println!("{answer}");
        } else {
            println!("{message}");
        }
    }

    fn done(&self, message: &str) {
        if self.json {
            println!("{}", json!({"ok": true}));
        } else {
            println!("{message}");
        }
    }
}
