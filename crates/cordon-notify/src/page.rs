//! What a page says: [`Page`] and [`Disclosure`], built by the caller, and [`render`], which
//! turns a page into the subject, plain text and HTML every channel sends.
//!
//! Rendering is pure: the same page always renders to the same bytes, so the outbox can
//! render once when it enqueues and send (and retry) later.

use std::fmt::Write as _;

use cordon_domain::{Codename, Severity};
use serde::{Deserialize, Serialize};

use crate::link::LinkAction;

/// A notification for one person: one alert, or a storm of them bundled into one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// The alert the page is about; in a bundle, the first one listed.
    pub disclosure: Disclosure,
    /// Signed link (see [`crate::LinkSigner`]) that acknowledges what the page is about. In a
    /// bundle it is rendered once and should act on the whole bundle.
    pub acknowledge_url: Option<String>,
    /// Signed link that resolves what the page is about.
    pub resolve_url: Option<String>,
    /// Further alerts for the same person delivered in the same message ("12 alerts for
    /// you"). Empty for an ordinary page. Only the first [`MAX_LISTED`] alerts of a bundle
    /// are listed; the rest are counted.
    pub bundled: Vec<Disclosure>,
}

/// How much a page may say about an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Disclosure {
    /// An alert that belongs to a security incident. Need-to-know: a page about it carries the
    /// incident's codename, its severity and a link to Cordon, where signing in decides who
    /// sees more, and nothing else. This variant has no other fields, so no title, summary,
    /// service or source can reach a message by mistake, however the caller builds it. Pages
    /// end up on lock screens, in mail archives and in chat channels with a wider audience
    /// than the incident.
    Security {
        codename: Codename,
        severity: Severity,
        link: String,
    },
    /// An ordinary operational alert, which anyone paged may read in full.
    Operational {
        title: String,
        summary: String,
        service: Option<String>,
        severity: Severity,
        source: Option<String>,
        link: String,
    },
}

/// A page turned into text, ready for any channel. Serializable so that it can be stored in
/// an outbox between attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    /// One line, no control characters: the mail subject and the chat headline.
    pub subject: String,
    /// The full plain-text message: [`Rendered::body`] followed by the action links.
    pub text: String,
    /// What the page is about, with each alert's link, without the action links (chat channels
    /// show those as buttons).
    pub body: String,
    /// The same message as a small HTML document, for mail.
    pub html: Option<String>,
    /// Acknowledge and resolve links, in that order, when the page has them.
    pub actions: Vec<ActionLink>,
}

/// A link that acts on the alert, shown as a button where the channel has buttons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionLink {
    pub action: LinkAction,
    pub url: String,
}

/// The most alerts a bundle lists one by one; the rest are counted ("and 3 more").
pub const MAX_LISTED: usize = 10;

/// Longest title, service, source or codename kept, in characters.
const MAX_LINE: usize = 200;
/// Longest operational summary kept, in characters.
const MAX_SUMMARY: usize = 2000;

/// Renders a page. Pure: no clock, no IO.
pub fn render(page: &Page) -> Rendered {
    let actions: Vec<ActionLink> = [
        (LinkAction::Acknowledge, &page.acknowledge_url),
        (LinkAction::Resolve, &page.resolve_url),
    ]
    .into_iter()
    .filter_map(|(action, url)| {
        url.as_deref().map(|url| ActionLink {
            action,
            url: single_line(url, usize::MAX),
        })
    })
    .collect();

    let (subject, body, body_html) = if page.bundled.is_empty() {
        single(&page.disclosure)
    } else {
        bundle(page)
    };

    let mut text = body.clone();
    if !actions.is_empty() {
        text.push('\n');
        for link in &actions {
            let _ = writeln!(text, "{}: {}", link.action.label(), link.url);
        }
    }

    let mut html = String::from("<!DOCTYPE html>\n<html><body>\n");
    let _ = writeln!(html, "<p><strong>{}</strong></p>", escape_html(&subject));
    html.push_str(&body_html);
    if !actions.is_empty() {
        let anchors: Vec<String> = actions
            .iter()
            .map(|link| anchor(&link.url, link.action.label()))
            .collect();
        let _ = writeln!(html, "<p>{}</p>", anchors.join(" | "));
    }
    html.push_str("</body></html>\n");

    Rendered {
        subject,
        text,
        body,
        html: Some(html),
        actions,
    }
}

impl LinkAction {
    /// The word shown on the link or button.
    pub fn label(self) -> &'static str {
        match self {
            LinkAction::Acknowledge => "Acknowledge",
            LinkAction::Resolve => "Resolve",
        }
    }
}

impl Disclosure {
    pub fn severity(&self) -> Severity {
        match self {
            Disclosure::Security { severity, .. } | Disclosure::Operational { severity, .. } => *severity,
        }
    }

    pub fn link(&self) -> &str {
        match self {
            Disclosure::Security { link, .. } | Disclosure::Operational { link, .. } => link,
        }
    }

    /// `[SEV-1] quiet-harbor` or `[SEV-2] Disk full on db-1`.
    fn headline(&self) -> String {
        let name = match self {
            Disclosure::Security { codename, .. } => codename.as_str(),
            Disclosure::Operational { title, .. } => title,
        };
        format!("[{}] {}", severity_label(self.severity()), single_line(name, MAX_LINE))
    }
}

/// One alert: the headline is the subject; operational pages add their details.
fn single(disclosure: &Disclosure) -> (String, String, String) {
    let subject = disclosure.headline();
    let link = single_line(disclosure.link(), usize::MAX);
    let mut text = format!("{subject}\n");
    let mut html = String::new();
    if let Disclosure::Operational {
        summary,
        service,
        source,
        ..
    } = disclosure
    {
        for (label, value) in [("Service", service), ("Source", source)] {
            if let Some(value) = value {
                let value = single_line(value, MAX_LINE);
                let _ = writeln!(text, "{label}: {value}");
                let _ = writeln!(html, "<p>{label}: {}</p>", escape_html(&value));
            }
        }
        let summary = multi_line(summary, MAX_SUMMARY);
        if !summary.is_empty() {
            let _ = writeln!(text, "{summary}");
            let _ = writeln!(html, "<p>{}</p>", escape_html(&summary).replace('\n', "<br>\n"));
        }
    }
    let _ = writeln!(text, "Open: {link}");
    let _ = writeln!(html, "<p>{}</p>", anchor(&link, "Open"));
    (subject, text, html)
}

/// Several alerts for one person: a count, then each alert's headline and link. Operational
/// alerts add their service; security alerts still say only codename, severity and link.
fn bundle(page: &Page) -> (String, String, String) {
    let all: Vec<&Disclosure> = std::iter::once(&page.disclosure).chain(&page.bundled).collect();
    let highest = all.iter().map(|disclosure| disclosure.severity()).min();
    let count = all.len();
    let subject = match highest {
        Some(severity) => format!("[{}] {count} alerts for you", severity_label(severity)),
        None => format!("{count} alerts for you"),
    };
    let mut text = format!("{count} alerts for you\n");
    let mut html = String::from("<ol>\n");
    for (number, disclosure) in all.iter().take(MAX_LISTED).enumerate() {
        let mut headline = disclosure.headline();
        if let Disclosure::Operational {
            service: Some(service), ..
        } = disclosure
        {
            let _ = write!(headline, " ({})", single_line(service, MAX_LINE));
        }
        let link = single_line(disclosure.link(), usize::MAX);
        let _ = writeln!(text, "{}. {headline}\n   Open: {link}", number + 1);
        let _ = writeln!(html, "<li>{} {}</li>", escape_html(&headline), anchor(&link, "Open"));
    }
    html.push_str("</ol>\n");
    if count > MAX_LISTED {
        let more = count - MAX_LISTED;
        let _ = writeln!(text, "and {more} more");
        let _ = writeln!(html, "<p>and {more} more</p>");
    }
    (subject, text, html)
}

/// `SEV-1`: the domain's word, upper-cased as people write it.
fn severity_label(severity: Severity) -> String {
    severity.as_str().to_ascii_uppercase()
}

/// Collapses every run of white space and control characters into one space and keeps at
/// most `max` characters, so that a caller's text cannot add lines to a subject or a header.
fn single_line(text: &str, max: usize) -> String {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    truncate(&words.join(" "), max)
}

/// Keeps line breaks but drops other control characters and trailing white space.
fn multi_line(text: &str, max: usize) -> String {
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            line.chars()
                .filter(|c| !c.is_control())
                .collect::<String>()
                .trim_end()
                .to_owned()
        })
        .collect();
    truncate(lines.join("\n").trim(), max)
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

/// An anchor for http(s) links; anything else is shown as text, never as a live link.
fn anchor(url: &str, label: &str) -> String {
    if url.starts_with("https://") || url.starts_with("http://") {
        format!("<a href=\"{}\">{label}</a>", escape_html(url))
    } else {
        format!("{label}: {}", escape_html(url))
    }
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use proptest::prelude::*;

    use super::*;

    fn security(codename: &str) -> Disclosure {
        Disclosure::Security {
            codename: Codename::from_stored(codename),
            severity: Severity::Sev1,
            link: format!("https://cordon.example.com/incidents/{codename}"),
        }
    }

    fn operational(title: &str, summary: &str) -> Disclosure {
        Disclosure::Operational {
            title: title.into(),
            summary: summary.into(),
            service: Some("payments".into()),
            severity: Severity::Sev2,
            source: Some("alertmanager".into()),
            link: "https://cordon.example.com/alerts/a-42".into(),
        }
    }

    fn page(disclosure: Disclosure) -> Page {
        Page {
            disclosure,
            acknowledge_url: Some("https://cordon.example.com/l/ACK".into()),
            resolve_url: Some("https://cordon.example.com/l/RES".into()),
            bundled: Vec::new(),
        }
    }

    #[test]
    fn a_security_page_says_codename_severity_and_link() {
        let rendered = render(&page(security("quiet-harbor")));
        assert_eq!(rendered.subject, "[SEV-1] quiet-harbor");
        expect![[r#"
            [SEV-1] quiet-harbor
            Open: https://cordon.example.com/incidents/quiet-harbor

            Acknowledge: https://cordon.example.com/l/ACK
            Resolve: https://cordon.example.com/l/RES
        "#]]
        .assert_eq(&rendered.text);
        expect![[r#"
            <!DOCTYPE html>
            <html><body>
            <p><strong>[SEV-1] quiet-harbor</strong></p>
            <p><a href="https://cordon.example.com/incidents/quiet-harbor">Open</a></p>
            <p><a href="https://cordon.example.com/l/ACK">Acknowledge</a> | <a href="https://cordon.example.com/l/RES">Resolve</a></p>
            </body></html>
        "#]]
        .assert_eq(rendered.html.as_deref().unwrap());
        assert_eq!(rendered.actions.len(), 2);
        assert!(rendered.text.starts_with(&rendered.body));
    }

    #[test]
    fn an_operational_page_says_everything() {
        let rendered = render(&page(operational("Disk full on db-1", "/var is at 99%.\nWrites fail.")));
        expect![[r#"
            [SEV-2] Disk full on db-1
            Service: payments
            Source: alertmanager
            /var is at 99%.
            Writes fail.
            Open: https://cordon.example.com/alerts/a-42

            Acknowledge: https://cordon.example.com/l/ACK
            Resolve: https://cordon.example.com/l/RES
        "#]]
        .assert_eq(&rendered.text);
    }

    #[test]
    fn a_bundle_counts_lists_and_keeps_security_items_to_their_codename() {
        let mut storm = page(operational("Disk full on db-1", "secret summary"));
        storm.bundled = vec![security("quiet-harbor")];
        storm
            .bundled
            .extend((0..10).map(|n| operational(&format!("Probe {n} failing"), "")));
        let rendered = render(&storm);
        assert_eq!(rendered.subject, "[SEV-1] 12 alerts for you");
        expect![[r#"
            12 alerts for you
            1. [SEV-2] Disk full on db-1 (payments)
               Open: https://cordon.example.com/alerts/a-42
            2. [SEV-1] quiet-harbor
               Open: https://cordon.example.com/incidents/quiet-harbor
            3. [SEV-2] Probe 0 failing (payments)
               Open: https://cordon.example.com/alerts/a-42
            4. [SEV-2] Probe 1 failing (payments)
               Open: https://cordon.example.com/alerts/a-42
            5. [SEV-2] Probe 2 failing (payments)
               Open: https://cordon.example.com/alerts/a-42
            6. [SEV-2] Probe 3 failing (payments)
               Open: https://cordon.example.com/alerts/a-42
            7. [SEV-2] Probe 4 failing (payments)
               Open: https://cordon.example.com/alerts/a-42
            8. [SEV-2] Probe 5 failing (payments)
               Open: https://cordon.example.com/alerts/a-42
            9. [SEV-2] Probe 6 failing (payments)
               Open: https://cordon.example.com/alerts/a-42
            10. [SEV-2] Probe 7 failing (payments)
               Open: https://cordon.example.com/alerts/a-42
            and 2 more
        "#]]
        .assert_eq(&rendered.body);
        assert!(
            !rendered.text.contains("secret summary"),
            "bundles list headlines, not summaries"
        );
    }

    #[test]
    fn caller_text_cannot_add_lines_to_the_subject_or_markup_to_the_html() {
        let rendered = render(&page(operational("Disk\r\nBcc: evil@example.com <b>", "x < y & z")));
        assert_eq!(rendered.subject, "[SEV-2] Disk Bcc: evil@example.com <b>");
        let html = rendered.html.unwrap();
        assert!(
            html.contains("Disk Bcc: evil@example.com &lt;b&gt;") && html.contains("x &lt; y &amp; z"),
            "{html}"
        );
        let odd = render(&page(Disclosure::Security {
            codename: Codename::from_stored("quiet-harbor"),
            severity: Severity::Sev3,
            link: "javascript:alert(1)".into(),
        }));
        assert!(
            !odd.html.unwrap().contains("href=\"javascript"),
            "only http(s) links become anchors"
        );
    }

    #[test]
    fn long_titles_and_summaries_are_cut() {
        let rendered = render(&page(operational(&"t".repeat(500), &"s".repeat(5000))));
        assert_eq!(rendered.subject.chars().count(), "[SEV-2] ".len() + MAX_LINE + 3);
        assert!(rendered.text.contains(&format!("{}...\n", "s".repeat(MAX_SUMMARY))));
    }

    fn word() -> impl Strategy<Value = String> {
        // Distinctive words that cannot occur in the fixed labels, codenames or links by
        // chance: a leak would show them verbatim.
        "[a-z]{4,12}".prop_map(|w| format!("zq{w}"))
    }

    proptest! {
        #[test]
        fn security_pages_leak_no_alert_text(
            (title, summary, service, source) in (word(), word(), word(), word()),
            bundled in 0usize..15,
        ) {
            // Everything the engine knows about a security alert, as it might sit in a stored
            // row: the type has nowhere to keep the operational fields, so they are dropped on
            // the way in and can never be rendered.
            let stored = |codename: String| serde_json::json!({
                "kind": "security",
                "codename": codename,
                "severity": "sev-1",
                "link": format!("https://cordon.example.com/incidents/{codename}"),
                "title": title, "summary": summary, "service": service, "source": source,
            });
            let disclosure = |codename: String| serde_json::from_value::<Disclosure>(stored(codename)).unwrap();
            let mut page = page(disclosure("quiet-harbor".into()));
            page.bundled = (0..bundled).map(|n| disclosure(format!("calm-river-{n}"))).collect();
            let rendered = render(&page);
            let everything = format!(
                "{}\n{}\n{}\n{}\n{}",
                rendered.subject,
                rendered.text,
                rendered.body,
                rendered.html.unwrap_or_default(),
                serde_json::to_string(&rendered.actions).unwrap()
            );
            for leaked in [&title, &summary, &service, &source] {
                prop_assert!(!everything.contains(leaked.as_str()), "{leaked} leaked into {everything}");
            }
            // Line by line, the text is codenames, severities, links and fixed labels only.
            for line in rendered.text.lines().map(str::trim_start).filter(|line| !line.is_empty()) {
                let item = line.split_once(". ").map_or(line, |(number, rest)| {
                    if number.bytes().all(|b| b.is_ascii_digit()) { rest } else { line }
                });
                let known = item.starts_with("[SEV-1] quiet-harbor")
                    || item.starts_with("[SEV-1] calm-river-")
                    || item.starts_with("Open: https://cordon.example.com/incidents/")
                    || item.starts_with("Acknowledge: https://cordon.example.com/l/ACK")
                    || item.starts_with("Resolve: https://cordon.example.com/l/RES")
                    || item == format!("{} alerts for you", bundled + 1)
                    || item.starts_with("and ");
                prop_assert!(known, "unexpected line {line:?}");
            }
        }
    }
}
