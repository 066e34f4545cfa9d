//! A scenario helper: proposes events as a given person, applies the accepted ones, and keeps
//! the journal so tests can fold and seal it.

use cordon_domain::{
    Event, Incident, IncidentId, Kind, Person, Playbook, Recorded, Refusal, Role, Severity, Status, StepId, Timestamp,
};

pub struct Scenario {
    pub incident: Incident,
    pub journal: Vec<Recorded>,
    clock: i64,
}

pub fn person(name: &str) -> Person {
    Person::new(name).unwrap()
}

impl Scenario {
    /// A security incident declared by alice, who is then made incident commander.
    pub fn security() -> Scenario {
        let mut scenario = Scenario::declared(Kind::Security, "alice");
        scenario.ok(
            "alice",
            Event::RoleAssigned {
                person: person("alice"),
                role: Role::IncidentCommander,
            },
        );
        scenario
    }

    pub fn declared(kind: Kind, by: &str) -> Scenario {
        let declared = Recorded {
            seq: 1,
            at: Timestamp::from_unix_millis(1_700_000_000_000),
            actor: person(by),
            event: Event::Declared {
                kind,
                title: "Database exfiltration via leaked key".into(),
                severity: Severity::Sev1,
                codename: None,
                playbook: Playbook::builtin(kind),
            },
        };
        let incident = Incident::fold(IncidentId::new("inc-1"), std::slice::from_ref(&declared)).unwrap();
        Scenario {
            incident,
            journal: vec![declared],
            clock: 1_700_000_000_000,
        }
    }

    pub fn act(&mut self, actor: &str, event: Event) -> Result<(), Refusal> {
        let actor = person(actor);
        self.incident.check(&actor, &event)?;
        self.clock += 1_000;
        let recorded = Recorded {
            seq: self.incident.last_seq + 1,
            at: Timestamp::from_unix_millis(self.clock),
            actor,
            event,
        };
        self.incident.apply(&recorded).unwrap();
        self.journal.push(recorded);
        Ok(())
    }

    #[track_caller]
    pub fn ok(&mut self, actor: &str, event: Event) {
        if let Err(refusal) = self.act(actor, event) {
            panic!("refused: {refusal}");
        }
    }

    #[track_caller]
    pub fn refused(&mut self, actor: &str, event: Event) -> String {
        match self.act(actor, event) {
            Ok(()) => panic!("accepted, but should have been refused"),
            Err(refusal) => refusal.to_string(),
        }
    }

    /// Settles steps 1 to 11 as not applicable and skips 12 to 14, then closes the incident.
    pub fn close_settling_every_step(&mut self) {
        for step in 1..=11 {
            self.ok(
                "alice",
                Event::StepNotApplicable {
                    step: StepId(step),
                    reason: "test".into(),
                },
            );
        }
        for step in 12..=14 {
            self.ok(
                "alice",
                Event::StepSkipped {
                    step: StepId(step),
                    reason: "test".into(),
                },
            );
        }
        self.ok(
            "alice",
            Event::StatusChanged {
                status: Status::Closed,
                reason: "done".into(),
            },
        );
    }

    pub fn complete(&mut self, steps: &[u32]) {
        for &step in steps {
            self.ok(
                "alice",
                Event::StepCompleted {
                    step: StepId(step),
                    note: format!("step {step} done"),
                },
            );
        }
    }
}

pub fn start(step: u32) -> Event {
    Event::StepStarted { step: StepId(step) }
}

pub fn done(step: u32) -> Event {
    Event::StepCompleted {
        step: StepId(step),
        note: String::new(),
    }
}
