//! Syslog lines: RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`), RFC 3164
//! (`<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`) and the Linux auth.log spelling of 3164 without a
//! priority. sshd and sudo messages also get structured fields (`user`, `source_ip`, `outcome`).

use std::io::BufRead;
use std::sync::Arc;

use super::lines::for_each_line;
use super::{ReadError, ReadObserver, ReadOptions};
use crate::event::{Event, FieldValue, LogKind, Origin};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

pub(super) fn looks_like_syslog(line: &str) -> bool {
    if looks_like_cisco(line) {
        return true;
    }
    let rest = strip_priority(line).map(|(_, rest)| rest).unwrap_or(line);
    if rest.starts_with("1 ") {
        return true;
    }
    month_number(rest).is_some() && rest.len() > 15 && rest.as_bytes().get(9) == Some(&b':')
        || rest
            .get(..4)
            .is_some_and(|year| year.bytes().all(|b| b.is_ascii_digit()))
            && rest.as_bytes().get(10) == Some(&b'T')
}

/// Cisco IOS logging: `[host] [sequence:] [*]Mmm dd hh:mm:ss[.mmm]: %FACILITY-SEVERITY-MNEMONIC: text`.
fn looks_like_cisco(line: &str) -> bool {
    let Some(percent) = line.find(": %") else { return false };
    let tag = line[percent + 3..].split(':').next().unwrap_or_default();
    let parts: Vec<&str> = tag.split('-').collect();
    parts.len() >= 3
        && parts
            .get(1)
            .is_some_and(|severity| severity.len() == 1 && severity.bytes().all(|b| b.is_ascii_digit()))
}

fn strip_priority(line: &str) -> Option<(u16, &str)> {
    let rest = line.strip_prefix('<')?;
    let end = rest.find('>')?;
    if end == 0 || end > 3 {
        return None;
    }
    let priority = rest[..end].parse().ok()?;
    Some((priority, &rest[end + 1..]))
}

fn month_number(text: &str) -> Option<i8> {
    let month = text.get(..3)?;
    MONTHS
        .iter()
        .position(|name| *name == month)
        .map(|index| index as i8 + 1)
}

pub(super) fn read_syslog(
    reader: impl BufRead,
    origin: &Arc<Origin>,
    options: ReadOptions,
    observer: &mut dyn ReadObserver,
) -> Result<(), ReadError> {
    for_each_line(
        reader,
        origin,
        options.max_line_bytes,
        observer,
        |line_number, line, observer| {
            let text = String::from_utf8_lossy(line);
            let text = text.trim_end_matches(['\r', '\n']);
            if text.trim().is_empty() {
                return;
            }
            match parse_line(text, options.syslog_year, origin, line_number) {
                Some(event) => observer.event(event),
                None => {
                    let mut event = Event::new(LogKind::Syslog, origin.clone(), line_number);
                    event.push("message", FieldValue::text(text));
                    observer.event(event);
                }
            }
        },
    )
}

/// Parses one syslog line into an event.
pub fn parse_line(line: &str, year: i16, origin: &Arc<Origin>, line_number: u64) -> Option<Event> {
    let mut event = Event::new(LogKind::Syslog, origin.clone(), line_number);
    let (priority, rest) = match strip_priority(line) {
        Some((priority, rest)) => (Some(priority), rest),
        None => (None, line),
    };
    if let Some(priority) = priority {
        event.push("facility", FieldValue::Int(i64::from(priority / 8)));
        event.push("severity", FieldValue::Int(i64::from(priority % 8)));
    }
    let message = if let Some(rest) = rest.strip_prefix("1 ") {
        parse_5424(&mut event, rest)?
    } else {
        parse_3164(&mut event, rest, year)?
    };
    event.push("message", FieldValue::text(message));
    add_auth_fields(&mut event, message);
    Some(event)
}

fn parse_5424<'line>(event: &mut Event, rest: &'line str) -> Option<&'line str> {
    let mut parts = rest.splitn(6, ' ');
    let timestamp = parts.next()?;
    let host = parts.next()?;
    let app = parts.next()?;
    let process_id = parts.next()?;
    let message_id = parts.next()?;
    let remainder = parts.next().unwrap_or_default();
    event.timestamp_ms = crate::time::parse_timestamp_ms(timestamp);
    for (name, value) in [
        ("host", host),
        ("program", app),
        ("pid", process_id),
        ("msgid", message_id),
    ] {
        if value != "-" {
            event.push(name, FieldValue::text(value));
        }
    }
    let message = skip_structured_data(remainder, event);
    Some(message.strip_prefix('\u{feff}').unwrap_or(message))
}

fn skip_structured_data<'line>(text: &'line str, event: &mut Event) -> &'line str {
    if let Some(rest) = text.strip_prefix("- ") {
        return rest;
    }
    if text == "-" {
        return "";
    }
    if !text.starts_with('[') {
        return text;
    }
    let mut depth_end = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if escaped {
            escaped = false;
        } else if byte == b'\\' {
            escaped = true;
        } else if byte == b'"' {
            in_quotes = !in_quotes;
        } else if byte == b']' && !in_quotes {
            depth_end = index + 1;
            if bytes.get(index + 1) != Some(&b'[') {
                break;
            }
        }
        index += 1;
    }
    event.push("structured_data", FieldValue::text(&text[..depth_end]));
    text[depth_end..].trim_start()
}

fn parse_3164<'line>(event: &mut Event, rest: &'line str, year: i16) -> Option<&'line str> {
    let (timestamp_ms, after_time) = if let Some(month) = month_number(rest) {
        let day: i8 = rest.get(4..6)?.trim().parse().ok()?;
        let clock = rest.get(7..15)?;
        let mut pieces = clock.split(':').map(|piece| piece.parse::<i8>().ok());
        let (hour, minute, second) = (pieces.next()??, pieces.next()??, pieces.next()??);
        let civil = jiff::civil::DateTime::new(year, month, day, hour, minute, second, 0).ok()?;
        let millis = civil
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|zoned| zoned.timestamp().as_millisecond());
        (millis, rest.get(15..)?.trim_start())
    } else {
        // Some daemons write an RFC 3339 timestamp in 3164 framing.
        let (timestamp, after) = rest.split_once(' ')?;
        (Some(crate::time::parse_timestamp_ms(timestamp)?), after.trim_start())
    };
    event.timestamp_ms = timestamp_ms;
    let (host, after_host) = after_time.split_once(' ').unwrap_or((after_time, ""));
    event.push("host", FieldValue::text(host));
    let (tag, message) = match after_host.split_once(": ") {
        Some((tag, message)) if !tag.contains(' ') || tag.ends_with(']') => (Some(tag), message),
        _ => (None, after_host),
    };
    if let Some(tag) = tag {
        match tag.split_once('[') {
            Some((program, pid)) => {
                event.push("program", FieldValue::text(program));
                event.push("pid", FieldValue::text(pid.trim_end_matches(']')));
            }
            None => event.push("program", FieldValue::text(tag)),
        }
    }
    Some(message)
}

/// Extracts the user, source address and outcome of sshd and sudo messages.
fn add_auth_fields(event: &mut Event, message: &str) {
    let words: Vec<&str> = message.split_whitespace().collect();
    let after = |word: &str| {
        words
            .iter()
            .position(|candidate| *candidate == word)
            .and_then(|index| words.get(index + 1).copied())
    };
    let outcome = if message.starts_with("Accepted ") {
        Some("success")
    } else if message.starts_with("Failed ")
        || message.starts_with("Invalid user")
        || message.contains("authentication failure")
    {
        Some("failure")
    } else {
        None
    };
    if let Some(outcome) = outcome {
        event.push("outcome", FieldValue::text(outcome));
        let user = if message.starts_with("Invalid user") {
            words.get(2).copied()
        } else if let Some(index) = words.iter().position(|word| *word == "for") {
            let next = words.get(index + 1).copied();
            if next == Some("invalid") {
                words.get(index + 3).copied()
            } else {
                next
            }
        } else {
            None
        };
        if let Some(user) = user {
            event.push("user", FieldValue::text(user));
        }
        if let Some(address) = after("from") {
            event.push("source_ip", FieldValue::text(address));
        }
        if let Some(port) = after("port") {
            event.push("source_port", FieldValue::text(port));
        }
    }
    if event.text("program") == "sudo"
        && let Some((user, command)) = message.split_once(" : ")
    {
        event.push("user", FieldValue::text(user.trim()));
        if let Some(command) = command.split("COMMAND=").nth(1) {
            event.push("command", FieldValue::text(command));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Arc<Origin> {
        Arc::new(Origin {
            path: "auth.log".into(),
        })
    }

    #[test]
    fn auth_log_line_gets_sshd_fields() {
        let event = parse_line(
            "Mar  3 10:00:01 web1 sshd[1234]: Failed password for invalid user admin from 10.0.0.5 port 2222 ssh2",
            2024,
            &origin(),
            1,
        )
        .unwrap();
        assert_eq!(event.text("host"), "web1");
        assert_eq!(event.text("program"), "sshd");
        assert_eq!(event.text("pid"), "1234");
        assert_eq!(event.text("user"), "admin");
        assert_eq!(event.text("source_ip"), "10.0.0.5");
        assert_eq!(event.text("outcome"), "failure");
        assert_eq!(
            event.timestamp_ms,
            crate::time::parse_timestamp_ms("2024-03-03T10:00:01Z")
        );
    }

    #[test]
    fn rfc5424_line_parses() {
        let event = parse_line("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\"] An application event", 2024, &origin(), 1).unwrap();
        assert_eq!(event.text("host"), "mymachine.example.com");
        assert_eq!(event.text("program"), "evntslog");
        assert_eq!(event.text("message"), "An application event");
        assert_eq!(event.text("facility"), "20");
    }

    #[test]
    fn cisco_lines_are_recognised() {
        assert!(looks_like_syslog(
            "172.16.5.10 6705: Feb 17 13:40:03.673: %PARSER-5-CFGLOG_LOGGEDCMD: User:admin  logged command:no shutdown"
        ));
        assert!(!looks_like_syslog("# A readme"));
    }

    #[test]
    fn sudo_line_gets_command() {
        let event = parse_line("Mar  3 10:00:01 web1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/cat /etc/shadow", 2024, &origin(), 1).unwrap();
        assert_eq!(event.text("user"), "alice");
        assert_eq!(event.text("command"), "/bin/cat /etc/shadow");
    }
}
