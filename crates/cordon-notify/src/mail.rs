//! The mail itself, formatted here rather than by a MIME library: a `multipart/alternative`
//! with a plain-text and an HTML part, both base64-encoded UTF-8, and a subject encoded per
//! RFC 2047 when it is not plain ASCII. The output is 7-bit ASCII with CRLF line ends, so any
//! relay takes it without 8BITMIME or SMTPUTF8. Pure: the date and the message id are
//! parameters.
//!
//! lettre still does the SMTP conversation (`send_raw`); its message builder is left out
//! because it brings in a quoted-printable crate whose licence (0BSD) is not on the
//! workspace's allow list, and a page needs only this much MIME. The integration tests parse
//! what arrives with Python's `email` package, an independent reader.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::page::Rendered;

/// A sender as configured: `cordon@example.com` or `Cordon <cordon@example.com>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sender {
    pub name: Option<String>,
    pub address: lettre::Address,
}

impl Sender {
    pub fn parse(text: &str) -> Option<Sender> {
        let text = text.trim();
        let (name, address) = match text.strip_suffix('>').and_then(|rest| rest.rsplit_once('<')) {
            Some((name, address)) => {
                let name = name.trim().trim_matches('"').trim();
                ((!name.is_empty()).then(|| name.to_owned()), address.trim())
            }
            None => (None, text),
        };
        if name.as_deref().is_some_and(|name| name.chars().any(char::is_control)) {
            return None;
        }
        Some(Sender {
            name,
            address: address.parse().ok()?,
        })
    }
}

/// The full message, headers and body, ready for `DATA`.
pub(crate) fn format(
    sender: &Sender,
    to: &lettre::Address,
    message: &Rendered,
    unix_seconds: i64,
    sequence: u64,
) -> Vec<u8> {
    let digest = Sha256::new()
        .chain_update(AsRef::<str>::as_ref(to))
        .chain_update([0])
        .chain_update(&message.subject)
        .chain_update([0])
        .chain_update(&message.text)
        .finalize();
    let tag = hex::encode(&digest[..8]);
    let boundary = format!("cordon-{tag}-{sequence}");

    let mut mail = String::new();
    let _ = write!(mail, "Date: {}\r\n", rfc5322_date(unix_seconds));
    let from = match &sender.name {
        Some(name) => format!("{} <{}>", display_name(name), sender.address),
        None => format!("<{}>", sender.address),
    };
    let _ = write!(mail, "From: {from}\r\n");
    let _ = write!(mail, "To: <{to}>\r\n");
    let _ = write!(mail, "Subject: {}\r\n", subject(&message.subject));
    let _ = write!(
        mail,
        "Message-ID: <{unix_seconds}.{sequence}.{tag}@{}>\r\n",
        sender.address.domain()
    );
    mail.push_str("MIME-Version: 1.0\r\n");
    // RFC 3834: vacation responders and the like stay quiet.
    mail.push_str("Auto-Submitted: auto-generated\r\n");
    match &message.html {
        Some(html) => {
            let _ = write!(
                mail,
                "Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n"
            );
            for (kind, content) in [("plain", &message.text), ("html", html)] {
                let _ = write!(mail, "--{boundary}\r\n");
                part(&mut mail, kind, content);
            }
            let _ = write!(mail, "--{boundary}--\r\n");
        }
        None => part(&mut mail, "plain", &message.text),
    }
    mail.into_bytes()
}

/// One text part: its headers, a blank line and its content in base64 lines of 76.
fn part(mail: &mut String, kind: &str, content: &str) {
    let _ = write!(
        mail,
        "Content-Type: text/{kind}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    );
    // Text is encoded in its canonical form, with CRLF line ends (RFC 2045, 6.8).
    let canonical = content.replace("\r\n", "\n").replace('\n', "\r\n");
    let encoded = STANDARD.encode(canonical);
    for line in encoded.as_bytes().chunks(76) {
        mail.push_str(&String::from_utf8_lossy(line));
        mail.push_str("\r\n");
    }
}

/// The subject on one logical line: printable ASCII folded at spaces before 78 columns, or
/// RFC 2047 encoded words otherwise. Control characters become spaces whoever built the
/// message, so nothing can add a header.
fn subject(text: &str) -> String {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect();
    let plain = words
        .iter()
        .all(|word| word.len() <= 900 && word.bytes().all(|b| b.is_ascii_graphic()));
    if plain {
        // "Subject: " takes 9 columns of the first line.
        let mut folded = String::new();
        let mut column = 9;
        for (index, word) in words.iter().enumerate() {
            if index > 0 {
                if column + 1 + word.len() > 78 {
                    folded.push_str("\r\n");
                    column = 0;
                }
                folded.push(' ');
                column += 1;
            }
            folded.push_str(word);
            column += word.len();
        }
        folded
    } else {
        encoded_words(&words.join(" "))
    }
}

/// `=?utf-8?b?…?=` words of at most 45 bytes of text each (60 of base64, 72 in all), never
/// splitting a character, separated by folding white space.
fn encoded_words(text: &str) -> String {
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?utf-8?b?{}?=", STANDARD.encode(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?utf-8?b?{}?=", STANDARD.encode(&chunk)));
    }
    words.join("\r\n ")
}

/// A display name as a quoted string when it is plain ASCII, an encoded word otherwise.
fn display_name(name: &str) -> String {
    if name.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        encoded_words(name)
    }
}

/// `Thu, 01 Jan 1970 00:00:00 +0000` (RFC 5322, 3.3), always in UTC.
fn rfc5322_date(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let seconds = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = WEEKDAYS[usize::try_from(days.rem_euclid(7)).unwrap_or_default()];
    let month = MONTHS[usize::try_from(month - 1).unwrap_or_default() % 12];
    format!(
        "{weekday}, {day:02} {month} {year:04} {:02}:{:02}:{:02} +0000",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

/// Year, month (1-12) and day of the proleptic Gregorian calendar for days since 1970-01-01,
/// after Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::link::LinkAction;
    use crate::page::ActionLink;

    fn sender() -> Sender {
        Sender::parse("Cordon <cordon@example.com>").unwrap()
    }

    #[test]
    fn senders_parse_with_or_without_a_name() {
        assert_eq!(sender().name.as_deref(), Some("Cordon"));
        let bare = Sender::parse("cordon@example.com").unwrap();
        assert_eq!(
            (bare.name, bare.address.to_string()),
            (None, "cordon@example.com".to_owned())
        );
        let quoted = Sender::parse(r#""Cordon, paging" <p@example.com>"#).unwrap();
        assert_eq!(quoted.name.as_deref(), Some("Cordon, paging"));
        for bad in [
            "",
            "Cordon",
            "Cordon <>",
            "Cordon <not an address>",
            "A\r\nBcc: x <a@example.com>",
        ] {
            assert_eq!(Sender::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_mail_is_multipart_alternative_in_seven_bit() {
        let message = Rendered {
            subject: "[SEV-1] quiet-harbor".into(),
            text: "[SEV-1] quiet-harbor\nOpen: https://c.example/i\n".into(),
            body: String::new(),
            html: Some("<p>hi</p>\n".into()),
            actions: vec![ActionLink {
                action: LinkAction::Acknowledge,
                url: "https://c.example/l/A".into(),
            }],
        };
        let to: lettre::Address = "ana@example.com".parse().unwrap();
        let mail = String::from_utf8(format(&sender(), &to, &message, 1_800_000_000, 7)).unwrap();
        expect![[r#"
            Date: Fri, 15 Jan 2027 08:00:00 +0000
            From: "Cordon" <cordon@example.com>
            To: <ana@example.com>
            Subject: [SEV-1] quiet-harbor
            Message-ID: <1800000000.7.8f70149a8ce3e16c@example.com>
            MIME-Version: 1.0
            Auto-Submitted: auto-generated
            Content-Type: multipart/alternative; boundary="cordon-8f70149a8ce3e16c-7"

            --cordon-8f70149a8ce3e16c-7
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: base64

            W1NFVi0xXSBxdWlldC1oYXJib3INCk9wZW46IGh0dHBzOi8vYy5leGFtcGxlL2kNCg==
            --cordon-8f70149a8ce3e16c-7
            Content-Type: text/html; charset=utf-8
            Content-Transfer-Encoding: base64

            PHA+aGk8L3A+DQo=
            --cordon-8f70149a8ce3e16c-7--
        "#]]
        .assert_eq(&mail.replace("\r\n", "\n"));
        assert!(mail.is_ascii());
        assert!(mail.split("\r\n").all(|line| !line.contains('\n') && line.len() <= 78));

        let text_only = Rendered { html: None, ..message };
        let mail = String::from_utf8(format(&sender(), &to, &text_only, 1_800_000_000, 8)).unwrap();
        let (headers, body) = mail.split_once("\r\n\r\n").unwrap();
        assert!(headers.ends_with("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64"));
        assert_eq!(
            body.trim_end(),
            "W1NFVi0xXSBxdWlldC1oYXJib3INCk9wZW46IGh0dHBzOi8vYy5leGFtcGxlL2kNCg=="
        );
    }

    #[test]
    fn subjects_are_folded_or_encoded_and_never_add_a_header() {
        assert_eq!(subject("Disk\r\nBcc: evil@example.com"), "Disk Bcc: evil@example.com");
        let long = subject(&"word ".repeat(30));
        let header = format!("Subject: {long}");
        assert!(header.split("\r\n").all(|line| line.len() <= 78), "{header}");
        assert_eq!(long.replace("\r\n", ""), "word ".repeat(30).trim_end());
        assert_eq!(subject("Dérive"), "=?utf-8?b?RMOpcml2ZQ==?=");
        let encoded = subject(&"é".repeat(40));
        assert!(
            encoded
                .split("\r\n ")
                .all(|word| word.len() <= 75 && word.starts_with("=?utf-8?b?")),
            "{encoded}"
        );
    }

    #[test]
    fn dates_are_rfc5322_in_utc() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(rfc5322_date(1_800_000_000), "Fri, 15 Jan 2027 08:00:00 +0000");
        assert_eq!(rfc5322_date(-1), "Wed, 31 Dec 1969 23:59:59 +0000");
        assert_eq!(display_name("Ops \"team\""), r#""Ops \"team\"""#);
    }
}
