//! Playbooks as data: the steps of a response process, which are conditional, whom they are
//! delegated to, and the gates that order them.
//!
//! Cordon ships two playbooks (the 14-step security process and the ordinary operational
//! flow) as TOML files embedded in the binary; a team can supply its own file. Parsing keeps
//! source spans so that every problem is reported with its file, line and column.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::incident::Kind;

/// The built-in 14-step security playbook.
pub const SECURITY_TOML: &str = include_str!("../playbooks/security.toml");
/// The built-in operational playbook.
pub const OPERATIONAL_TOML: &str = include_str!("../playbooks/operational.toml");

/// A step's number within its playbook, e.g. step 3 "Assemble the response team".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StepId(pub u32);

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A validated playbook. It is copied into the incident's first journal entry, so that an
/// incident keeps the rules it was declared under even if the playbook file changes later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Playbook {
    pub id: String,
    pub title: String,
    pub kind: Kind,
    pub decisions: Vec<Decision>,
    pub steps: Vec<Step>,
}

/// A finding or choice that a gate can depend on, recorded in the journal with a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub id: StepId,
    pub title: String,
    pub description: String,
    /// Conditional steps happen "only if necessary" and may be skipped with a written reason.
    pub conditional: bool,
    /// The role the process delegates the step to, shown to responders (not enforced).
    pub delegated_to: Option<String>,
    pub gates: Vec<Gate>,
}

/// A precondition on starting or completing a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    pub id: String,
    pub title: String,
    /// Steps that must be settled (done, skipped or not applicable).
    pub waits_for: Vec<StepId>,
    /// Steps whose findings must be done and validated.
    pub requires_validated: Vec<StepId>,
    /// A decision that must have been recorded.
    pub requires_decision: Option<String>,
    /// A decision that, once recorded, lifts the gate entirely.
    pub waived_by: Option<String>,
}

impl Playbook {
    /// The built-in playbook for a kind of incident.
    pub fn builtin(kind: Kind) -> Playbook {
        let (name, text) = match kind {
            Kind::Security => ("security.toml", SECURITY_TOML),
            Kind::Operational => ("operational.toml", OPERATIONAL_TOML),
        };
        match Playbook::parse(name, text) {
            Ok(playbook) => playbook,
            // The built-in files are checked by tests; reaching this is a build defect.
            Err(err) => unreachable_builtin(&err),
        }
    }

    /// Parses and validates a playbook file. `file` is only used in error messages.
    pub fn parse(file: &str, text: &str) -> Result<Playbook, PlaybookError> {
        let raw: RawPlaybook = toml::from_str(text).map_err(|err| {
            let (line, column) = err
                .span()
                .map(|span| line_and_column(text, span.start))
                .unwrap_or((1, 1));
            PlaybookError {
                file: file.to_owned(),
                line,
                column,
                message: match err.message().trim().trim_end_matches('.') {
                    "" => "not a valid TOML document".to_owned(),
                    message => message.to_owned(),
                },
            }
        })?;
        Validator { file, text }.validate(raw)
    }

    pub fn step(&self, id: StepId) -> Option<&Step> {
        self.steps.iter().find(|step| step.id == id)
    }

    pub fn decision(&self, id: &str) -> Option<&Decision> {
        self.decisions.iter().find(|decision| decision.id == id)
    }

    /// "1 Stop the attack in progress", for messages.
    pub fn describe_step(&self, id: StepId) -> String {
        match self.step(id) {
            Some(step) => format!("{} {}", id, step.title),
            None => format!("{id} (unknown step)"),
        }
    }
}

#[allow(clippy::panic)]
fn unreachable_builtin(err: &PlaybookError) -> ! {
    panic!("built-in playbook is invalid: {err}")
}

/// A playbook file that is not valid, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct PlaybookError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlaybook {
    id: String,
    title: String,
    kind: Kind,
    #[serde(default)]
    decisions: Vec<RawDecision>,
    steps: Spanned<Vec<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDecision {
    id: Spanned<String>,
    title: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: Spanned<u32>,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    conditional: bool,
    delegated_to: Option<String>,
    #[serde(default)]
    gates: Vec<RawGate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGate {
    id: Spanned<String>,
    title: String,
    #[serde(default)]
    waits_for: Vec<Spanned<u32>>,
    #[serde(default)]
    requires_validated: Vec<Spanned<u32>>,
    requires_decision: Option<Spanned<String>>,
    waived_by: Option<Spanned<String>>,
}

struct Validator<'a> {
    file: &'a str,
    text: &'a str,
}

impl Validator<'_> {
    fn error(&self, offset: usize, message: String) -> PlaybookError {
        let (line, column) = line_and_column(self.text, offset);
        PlaybookError {
            file: self.file.to_owned(),
            line,
            column,
            message,
        }
    }

    fn validate(&self, raw: RawPlaybook) -> Result<Playbook, PlaybookError> {
        if raw.steps.get_ref().is_empty() {
            return Err(self.error(raw.steps.span().start, "a playbook needs at least one step".into()));
        }
        let mut decision_ids = BTreeSet::new();
        for decision in &raw.decisions {
            if !decision_ids.insert(decision.id.get_ref().as_str()) {
                return Err(self.error(
                    decision.id.span().start,
                    format!("duplicate decision id {:?}", decision.id.get_ref()),
                ));
            }
        }
        let mut step_ids = BTreeSet::new();
        for step in raw.steps.get_ref() {
            if !step_ids.insert(*step.id.get_ref()) {
                return Err(self.error(step.id.span().start, format!("duplicate step id {}", step.id.get_ref())));
            }
        }
        let mut gate_ids = BTreeSet::new();
        for step in raw.steps.get_ref() {
            for gate in &step.gates {
                self.validate_gate(step, gate, &step_ids, &decision_ids, &mut gate_ids)?;
            }
        }
        self.reject_cycles(raw.steps.get_ref())?;

        let steps = raw.steps.into_inner();
        Ok(Playbook {
            id: raw.id,
            title: raw.title,
            kind: raw.kind,
            decisions: raw
                .decisions
                .into_iter()
                .map(|decision| Decision {
                    id: decision.id.into_inner(),
                    title: decision.title,
                })
                .collect(),
            steps: steps.into_iter().map(into_step).collect(),
        })
    }

    fn validate_gate<'g>(
        &self,
        step: &RawStep,
        gate: &'g RawGate,
        step_ids: &BTreeSet<u32>,
        decision_ids: &BTreeSet<&str>,
        gate_ids: &mut BTreeSet<&'g str>,
    ) -> Result<(), PlaybookError> {
        if !gate_ids.insert(gate.id.get_ref().as_str()) {
            return Err(self.error(
                gate.id.span().start,
                format!("duplicate gate id {:?}", gate.id.get_ref()),
            ));
        }
        let own = *step.id.get_ref();
        for reference in gate.waits_for.iter().chain(&gate.requires_validated) {
            let target = *reference.get_ref();
            if !step_ids.contains(&target) {
                return Err(self.error(
                    reference.span().start,
                    format!("gate {:?} refers to unknown step {target}", gate.id.get_ref()),
                ));
            }
            if target == own {
                return Err(self.error(
                    reference.span().start,
                    format!("gate {:?} on step {own} waits for its own step", gate.id.get_ref()),
                ));
            }
        }
        for decision in gate.requires_decision.iter().chain(&gate.waived_by) {
            if !decision_ids.contains(decision.get_ref().as_str()) {
                return Err(self.error(
                    decision.span().start,
                    format!(
                        "gate {:?} refers to unknown decision {:?}",
                        gate.id.get_ref(),
                        decision.get_ref()
                    ),
                ));
            }
        }
        if gate.waits_for.is_empty() && gate.requires_validated.is_empty() && gate.requires_decision.is_none() {
            return Err(self.error(
                gate.id.span().start,
                format!("gate {:?} waits for nothing", gate.id.get_ref()),
            ));
        }
        Ok(())
    }

    /// Gates form a graph from each step to the steps it waits for; a cycle would leave its
    /// steps blocked forever.
    fn reject_cycles(&self, steps: &[RawStep]) -> Result<(), PlaybookError> {
        let edges: HashMap<u32, Vec<&Spanned<u32>>> = steps
            .iter()
            .map(|step| {
                let targets = step
                    .gates
                    .iter()
                    .flat_map(|gate| gate.waits_for.iter().chain(&gate.requires_validated))
                    .collect();
                (*step.id.get_ref(), targets)
            })
            .collect();
        // Colours: absent = unvisited, false = on the current path, true = finished.
        let mut colour: BTreeMap<u32, bool> = BTreeMap::new();
        for step in steps {
            let mut path = Vec::new();
            if let Some((cycle, offset)) = find_cycle(*step.id.get_ref(), &edges, &mut colour, &mut path) {
                let rendered: Vec<String> = cycle.iter().map(u32::to_string).collect();
                return Err(self.error(offset, format!("gates form a cycle: {}", rendered.join(" -> "))));
            }
        }
        Ok(())
    }
}

fn find_cycle(
    node: u32,
    edges: &HashMap<u32, Vec<&Spanned<u32>>>,
    colour: &mut BTreeMap<u32, bool>,
    path: &mut Vec<u32>,
) -> Option<(Vec<u32>, usize)> {
    match colour.get(&node) {
        Some(true) => return None,
        Some(false) => {
            let start = path.iter().position(|&n| n == node).unwrap_or(0);
            let mut cycle = path[start..].to_vec();
            cycle.push(node);
            return Some((cycle, 0));
        }
        None => {}
    }
    colour.insert(node, false);
    path.push(node);
    for target in edges.get(&node).into_iter().flatten() {
        if let Some((cycle, offset)) = find_cycle(*target.get_ref(), edges, colour, path) {
            // Point at the innermost reference that closes the cycle.
            let offset = if offset == 0 { target.span().start } else { offset };
            return Some((cycle, offset));
        }
    }
    path.pop();
    colour.insert(node, true);
    None
}

fn into_step(raw: RawStep) -> Step {
    Step {
        id: StepId(raw.id.into_inner()),
        title: raw.title,
        description: raw.description,
        conditional: raw.conditional,
        delegated_to: raw.delegated_to,
        gates: raw
            .gates
            .into_iter()
            .map(|gate| Gate {
                id: gate.id.into_inner(),
                title: gate.title,
                waits_for: gate.waits_for.into_iter().map(|s| StepId(s.into_inner())).collect(),
                requires_validated: gate
                    .requires_validated
                    .into_iter()
                    .map(|s| StepId(s.into_inner()))
                    .collect(),
                requires_decision: gate.requires_decision.map(Spanned::into_inner),
                waived_by: gate.waived_by.map(Spanned::into_inner),
            })
            .collect(),
    }
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |tail| tail.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn check_error(text: &str, expected: Expect) {
        let err = Playbook::parse("team.toml", text).unwrap_err();
        expected.assert_eq(&err.to_string());
    }

    const HEADER: &str = "id = \"p\"\ntitle = \"P\"\nkind = \"security\"\n";

    #[test]
    fn builtin_playbooks_parse() {
        let security = Playbook::builtin(Kind::Security);
        assert_eq!(security.steps.len(), 14);
        let conditional: Vec<u32> = security
            .steps
            .iter()
            .filter(|s| s.conditional)
            .map(|s| s.id.0)
            .collect();
        assert_eq!(conditional, [12, 13, 14]);
        let delegated: Vec<(u32, &str)> = security
            .steps
            .iter()
            .filter_map(|s| s.delegated_to.as_deref().map(|d| (s.id.0, d)))
            .collect();
        assert_eq!(
            delegated,
            [
                (11, "VP/Director of Engineering"),
                (12, "VP/Director of Engineering"),
                (14, "Marketing")
            ]
        );
        assert_eq!(Playbook::builtin(Kind::Operational).kind, Kind::Operational);
    }

    #[test]
    fn unknown_step_in_gate_is_located() {
        check_error(
            &format!(
                "{HEADER}[[steps]]\nid = 1\ntitle = \"a\"\n[[steps.gates]]\nid = \"g\"\ntitle = \"G\"\nwaits_for = [7]\n"
            ),
            expect![[r#"team.toml:10:14: gate "g" refers to unknown step 7"#]],
        );
    }

    #[test]
    fn duplicate_step_ids_are_located() {
        check_error(
            &format!("{HEADER}[[steps]]\nid = 1\ntitle = \"a\"\n[[steps]]\nid = 1\ntitle = \"b\"\n"),
            expect![[r#"team.toml:8:6: duplicate step id 1"#]],
        );
    }

    #[test]
    fn gate_cycles_are_named() {
        let text = format!(
            "{HEADER}[[steps]]\nid = 1\ntitle = \"a\"\n[[steps.gates]]\nid = \"g1\"\ntitle = \"G\"\nwaits_for = [2]\n\
             [[steps]]\nid = 2\ntitle = \"b\"\n[[steps.gates]]\nid = \"g2\"\ntitle = \"G\"\nwaits_for = [1]\n"
        );
        check_error(&text, expect!["team.toml:17:14: gates form a cycle: 1 -> 2 -> 1"]);
    }

    #[test]
    fn unknown_decision_is_located() {
        check_error(
            &format!(
                "{HEADER}[[steps]]\nid = 1\ntitle = \"a\"\n[[steps]]\nid = 2\ntitle = \"b\"\n\
                 [[steps.gates]]\nid = \"g\"\ntitle = \"G\"\nwaits_for = [1]\nwaived_by = \"nope\"\n"
            ),
            expect![[r#"team.toml:14:13: gate "g" refers to unknown decision "nope""#]],
        );
    }

    #[test]
    fn syntax_and_schema_errors_carry_a_location() {
        check_error(
            &format!("{HEADER}[[steps]]\nid = \"one\"\ntitle = \"a\"\n"),
            expect![[r#"team.toml:5:6: invalid type: string "one", expected u32"#]],
        );
        check_error(
            &format!("{HEADER}[[steps]]\nid = 1\ntitle = \"a\"\ncolour = 3\n"),
            expect![[
                r#"team.toml:7:1: unknown field `colour`, expected one of `id`, `title`, `description`, `conditional`, `delegated_to`, `gates`"#
            ]],
        );
    }
}
