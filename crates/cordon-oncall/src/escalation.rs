//! Escalation policies: who is paged, level by level, until someone acknowledges.
//!
//! Level 0 is paged when the alert arrives; each following level after the previous level's
//! timeout (5 minutes by default, as the process recommends); after the last level the policy
//! starts over, `repeats` more times. The engine that pages keeps, per alert, the last step it
//! paged; [`EscalationPolicy::next_step`] says which step is due next and when, so the timer
//! survives restarts as one row in the database.

use cordon_domain::{Person, Timestamp};
use serde::{Deserialize, Serialize};

use crate::{Schedule, ScheduleError};

pub const DEFAULT_TIMEOUT_MINUTES: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Target {
    Person(Person),
    /// Whoever the named schedule has on call at the time of paging.
    Schedule(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    pub targets: Vec<Target>,
    #[serde(default = "default_timeout")]
    pub timeout_minutes: u32,
}

fn default_timeout() -> u32 {
    DEFAULT_TIMEOUT_MINUTES
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationPolicy {
    pub name: String,
    pub levels: Vec<Level>,
    /// How many times to start over after the last level.
    #[serde(default)]
    pub repeats: u32,
}

/// One paging step: the round (0 for the first pass), the level, and when it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Step {
    pub round: u32,
    pub level: usize,
    pub due: Timestamp,
}

impl EscalationPolicy {
    /// The step after `last` (or the first step, when nothing was paged yet) for an alert that
    /// arrived at `started`; `None` when the policy is exhausted. Pure: the caller stores the
    /// step it paged and asks again.
    pub fn next_step(&self, started: Timestamp, last: Option<Step>) -> Option<Step> {
        if self.levels.is_empty() {
            return None;
        }
        let (round, level, previous_due) = match last {
            None => {
                return Some(Step {
                    round: 0,
                    level: 0,
                    due: started,
                });
            }
            Some(step) if step.level + 1 < self.levels.len() => (step.round, step.level + 1, step),
            Some(step) if step.round < self.repeats => (step.round + 1, 0, step),
            Some(_) => return None,
        };
        let waited = self.levels.get(previous_due.level)?.timeout_minutes.max(1);
        let due = Timestamp::from_unix_millis(previous_due.due.unix_millis() + i64::from(waited) * 60_000);
        Some(Step { round, level, due })
    }

    /// The people to page for `level` at `at`, resolving schedules by name with `schedules`.
    pub fn recipients(
        &self,
        level: usize,
        at: Timestamp,
        schedules: &[Schedule],
    ) -> Result<Vec<Person>, ScheduleError> {
        let mut people = Vec::new();
        for target in self.levels.get(level).map_or(&[][..], |l| l.targets.as_slice()) {
            let person = match target {
                Target::Person(person) => Some(person.clone()),
                Target::Schedule(name) => match schedules.iter().find(|s| s.name == *name) {
                    Some(schedule) => schedule.on_call(at)?.map(|shift| shift.person),
                    None => None,
                },
            };
            if let Some(person) = person.filter(|p| !people.contains(p)) {
                people.push(person);
            }
        }
        Ok(people)
    }
}
