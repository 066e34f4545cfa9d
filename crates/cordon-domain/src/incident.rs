//! The vocabulary of an incident: identifiers, kinds, severities, statuses, people, roles and
//! the innocuous codenames that security incidents go by.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An incident's stable identifier. The store chooses it (a UUID); the domain only carries it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncidentId(String);

impl IncidentId {
    pub fn new(id: impl Into<String>) -> Self {
        IncidentId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person, by account name. Accounts themselves live in the server; the domain needs only a
/// stable name to decide who may see and do what.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Person(String);

impl Person {
    /// Accepts a non-empty name of at most 64 printable characters without white space.
    pub fn new(name: &str) -> Result<Self, ParseError> {
        let valid = !name.is_empty()
            && name.chars().count() <= 64
            && name.chars().all(|c| !c.is_whitespace() && !c.is_control());
        if valid {
            Ok(Person(name.to_owned()))
        } else {
            Err(ParseError {
                what: "person",
                text: name.to_owned(),
                expected: "a name of 1 to 64 characters without spaces",
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a word on the command line or in a file failed to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {text:?}: expected {expected}")]
pub struct ParseError {
    pub what: &'static str,
    pub text: String,
    pub expected: &'static str,
}

/// Defines a closed set of names that serialize, parse and print as the same kebab-case words.
macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $word)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseError;

            fn from_str(text: &str) -> Result<Self, ParseError> {
                let lowered = text.to_ascii_lowercase();
                $name::ALL
                    .iter()
                    .copied()
                    .find(|candidate| candidate.as_str() == lowered)
                    .ok_or_else(|| ParseError {
                        what: $what,
                        text: text.to_owned(),
                        expected: concat!("one of: ", $($word, " "),+),
                    })
            }
        }
    };
}

word_enum!(
    /// Security incidents follow the gated 14-step process and are need-to-know; operational
    /// incidents follow the ordinary, open major-incident flow.
    Kind, "incident kind" {
        Security => "security",
        Operational => "operational",
    }
);

word_enum!(
    /// SEV-1 is critical, SEV-5 cosmetic. SEV-1 and SEV-2 are major incidents.
    Severity, "severity" {
        Sev1 => "sev-1",
        Sev2 => "sev-2",
        Sev3 => "sev-3",
        Sev4 => "sev-4",
        Sev5 => "sev-5",
    }
);

impl Severity {
    pub fn is_major(self) -> bool {
        matches!(self, Severity::Sev1 | Severity::Sev2)
    }
}

word_enum!(
    /// Where an incident stands. It moves forward only: open, contained, resolved, closed.
    Status, "status" {
        Open => "open",
        Contained => "contained",
        Resolved => "resolved",
        Closed => "closed",
    }
);

word_enum!(
    /// Roles a person can hold in one incident. One person may hold several.
    Role, "role" {
        IncidentCommander => "incident-commander",
        Deputy => "deputy",
        Scribe => "scribe",
        SubjectMatterExpert => "subject-matter-expert",
        InternalLiaison => "internal-liaison",
        CustomerLiaison => "customer-liaison",
        LegalCounsel => "legal-counsel",
        Executive => "executive",
        Observer => "observer",
    }
);

word_enum!(
    /// A person's role across the installation. Incident membership is separate: an admin who
    /// is not on a security incident cannot see it without break-glass.
    GlobalRole, "global role" {
        Admin => "admin",
        Responder => "responder",
        Viewer => "viewer",
    }
);

word_enum!(
    /// What an API token may do: read, also change incidents (write), or also administer.
    Scope, "scope" {
        Read => "read",
        Write => "write",
        Admin => "admin",
    }
);

/// The name a security incident goes by in every channel: two ordinary words such as
/// `quiet-harbor`. It is drawn at random and never derived from the title, so that seeing it
/// reveals nothing about the incident.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Codename(String);

impl Codename {
    /// Draws a codename from two random numbers supplied by the caller, skipping names that
    /// `taken` reports as in use. Returns `None` only when every candidate tried is taken.
    pub fn generate(mut random: impl FnMut() -> u64, taken: impl Fn(&str) -> bool) -> Option<Self> {
        // Random draws first; a full scan from a random start guarantees we find a free name
        // whenever one exists.
        for _ in 0..64 {
            let candidate = codename_at(random());
            if !taken(&candidate) {
                return Some(Codename(candidate));
            }
        }
        let start = random();
        (0..CODENAME_SPACE)
            .map(|offset| codename_at(start.wrapping_add(offset)))
            .find(|candidate| !taken(candidate))
            .map(Codename)
    }

    /// Wraps a codename read back from storage or typed by a user.
    pub fn from_stored(text: impl Into<String>) -> Self {
        Codename(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Codename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const CODENAME_SPACE: u64 = (ADJECTIVES.len() * NOUNS.len()) as u64;

fn codename_at(index: u64) -> String {
    let index = index % CODENAME_SPACE;
    let adjectives = ADJECTIVES.len() as u64;
    // Both indices are reduced modulo the list lengths, so the conversions cannot truncate.
    let adjective = ADJECTIVES[usize::try_from(index % adjectives).unwrap_or_default()];
    let noun = NOUNS[usize::try_from(index / adjectives).unwrap_or_default()];
    format!("{adjective}-{noun}")
}

/// Plain, neutral words: nothing alarming, nothing that hints at a breach or a system.
const ADJECTIVES: &[&str] = &[
    "amber", "ancient", "autumn", "bold", "brave", "bright", "brisk", "calm", "clever", "cool", "crisp", "curly",
    "dapper", "distant", "dusty", "eager", "early", "easy", "fancy", "fine", "floral", "fond", "gentle", "golden",
    "grand", "green", "hazel", "hidden", "humble", "ivory", "jolly", "keen", "kind", "lively", "lucky", "mellow",
    "merry", "misty", "modest", "mossy", "narrow", "neat", "nimble", "noble", "olive", "pale", "patient", "plain",
    "polite", "proud", "quiet", "rapid", "rosy", "rustic", "sandy", "silent", "silver", "simple", "sleepy", "smooth",
    "snowy", "soft", "solid", "spare", "steady", "still", "sunny", "swift", "tall", "tender", "tidy", "velvet",
    "vivid", "warm", "wild", "windy", "wise", "witty", "young", "zesty",
];

const NOUNS: &[&str] = &[
    "acorn", "anchor", "apple", "arbor", "badger", "basin", "beacon", "birch", "bramble", "breeze", "brook", "canyon",
    "cedar", "clover", "comet", "coral", "cove", "crane", "creek", "dawn", "delta", "dune", "ember", "falcon", "fern",
    "field", "finch", "fjord", "garden", "glade", "grove", "harbor", "hazel", "heron", "hill", "island", "ivy",
    "juniper", "kestrel", "lagoon", "lantern", "larch", "lark", "lily", "maple", "meadow", "mesa", "mill", "moon",
    "needle", "oak", "orchard", "otter", "owl", "panda", "pebble", "pine", "plume", "pond", "prairie", "quartz",
    "quill", "raven", "reef", "ridge", "river", "robin", "sage", "shore", "sparrow", "spruce", "stone", "summit",
    "thistle", "tide", "trail", "tulip", "valley", "willow", "wren",
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codenames_are_two_plain_words() {
        let mut n = 7u64;
        let codename = Codename::generate(
            || {
                n = n.wrapping_mul(6364136223846793005).wrapping_add(1);
                n
            },
            |_| false,
        )
        .unwrap();
        let words: Vec<_> = codename.as_str().split('-').collect();
        assert_eq!(words.len(), 2);
        assert!(ADJECTIVES.contains(&words[0]) && NOUNS.contains(&words[1]));
    }

    #[test]
    fn codename_skips_taken_names_until_the_space_is_exhausted() {
        let mut taken = HashSet::new();
        for _ in 0..CODENAME_SPACE {
            let codename = Codename::generate(|| 42, |name| taken.contains(name)).unwrap();
            assert!(taken.insert(codename.as_str().to_owned()));
        }
        assert_eq!(Codename::generate(|| 42, |name| taken.contains(name)), None);
    }

    #[test]
    fn word_lists_have_no_duplicates() {
        assert_eq!(ADJECTIVES.iter().collect::<HashSet<_>>().len(), ADJECTIVES.len());
        assert_eq!(NOUNS.iter().collect::<HashSet<_>>().len(), NOUNS.len());
    }

    #[test]
    fn words_parse_case_insensitively_and_list_choices_on_error() {
        assert_eq!("SEV-1".parse::<Severity>().unwrap(), Severity::Sev1);
        let err = "sev-9".parse::<Severity>().unwrap_err().to_string();
        assert!(err.contains("sev-9") && err.contains("sev-1"), "{err}");
    }

    #[test]
    fn person_names_reject_spaces_and_empty() {
        assert!(Person::new("alice").is_ok());
        assert!(Person::new("").is_err());
        assert!(Person::new("mallory admin").is_err());
    }
}
