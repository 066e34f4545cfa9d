//! Browser tests: a real headless Chromium, driven through chromedriver, against a real
//! `cordon serve` started on free ports with a temporary data directory. They walk the README's
//! security incident from the first-admin link to a closed incident, check that a non-member
//! in a second browser sees no trace of it, that forms without the CSRF field are refused, and
//! that a step can be completed with the keyboard alone. Screenshots of the main pages land in
//! `artifacts/screenshots/` (not committed).
//!
//! Without chromium and chromedriver the tests are skipped with a notice, except under CI=true
//! where that is a failure (`scripts/setup` installs both).

mod harness;
mod webdriver;

use std::path::PathBuf;

use harness::{Driver, Server};
use webdriver::{Browser, ENTER, TAB};

const PASSWORD: &str = "correct horse battery staple";

/// A running server and driver, an administrator (alice) signed in in the first browser, and
/// the accounts bob and eve (responders).
///
/// Fields drop in declaration order: the browser must quit (through chromedriver) before
/// chromedriver is stopped, or Chromium is left running.
struct Scene {
    alice: Browser,
    driver: Driver,
    server: Server,
    profiles: tempfile::TempDir,
    chromium: PathBuf,
}

impl Scene {
    fn start() -> Option<Scene> {
        let (chromium, driver_binary) = harness::browser_tools()?;
        let server = Server::start();
        let driver = Driver::start(&driver_binary);
        let profiles = tempfile::tempdir().expect("profiles directory");
        let alice = Browser::open(driver.port, &chromium, &profiles.path().join("alice"), &server.base);
        let scene = Scene {
            alice,
            driver,
            server,
            profiles,
            chromium,
        };
        scene.first_admin();
        Some(scene)
    }

    /// The first-start link, the setup page, sign-in, and two more accounts made in the UI.
    fn first_admin(&self) {
        let b = &self.alice;
        b.go(&self.server.setup_link);
        assert_eq!(b.title(), "First administrator · Cordon");
        b.fill("#name", "alice");
        b.fill("#password", PASSWORD);
        shot(b, "01-setup");
        b.submit(&b.find("main form button[type=submit]"));
        b.wait_for("#totp");
        assert!(
            b.text("main").contains("The administrator account exists"),
            "{}",
            b.text("main")
        );
        sign_in(b, "alice", PASSWORD, None);
        b.go("/admin/users");
        for name in ["bob", "eve"] {
            b.fill("#name", name);
            b.fill("#password", PASSWORD);
            b.submit(&b.find_by_text("main form button", "Create user"));
            assert!(
                b.text("main").contains(&format!("Created {name}.")),
                "{}",
                b.text("main")
            );
        }
        shot(b, "03-users");
    }

    fn browser(&self, profile: &str) -> Browser {
        Browser::open(
            self.driver.port,
            &self.chromium,
            &self.profiles.path().join(profile),
            &self.server.base,
        )
    }

    /// Declares the README's security incident as alice and returns (room path, codename).
    fn declare_security(&self) -> (String, String) {
        let b = &self.alice;
        b.go("/incidents/new");
        let main = b.text("main");
        assert!(
            main.contains("Not sure it is a security incident? Declare it as one; the Incident Commander decides."),
            "{main}"
        );
        assert_eq!(
            b.property(&b.find("#kind-security"), "checked"),
            "true",
            "security is the default"
        );
        b.fill("#title", "Deploy key leaked; customer DB read");
        select(b, "#severity", "sev-1");
        shot(b, "04-declare");
        b.submit(&b.find_by_text("main form button", "Declare"));
        b.wait_for("#room-title");
        let path = b.url().trim_start_matches(&b.base).to_owned();
        let codename = b.text("#room-title");
        (path, codename)
    }
}

fn shot(browser: &Browser, name: &str) {
    browser.screenshot(&harness::screenshot_dir().join(format!("{name}.png")));
}

fn sign_in(b: &Browser, name: &str, password: &str, totp: Option<&str>) {
    b.go("/sign-in");
    b.fill("#name", name);
    b.fill("#password", password);
    if let Some(code) = totp {
        b.fill("#totp", code);
    }
    b.submit(&b.find_by_text("main form button", "Sign in"));
    b.wait_for("header.top");
}

fn select(b: &Browser, css: &str, value: &str) {
    let option = b.find(&format!("{css} option[value='{value}']"));
    b.click(&option);
}

/// Clicks the button of step `step` whose text contains `label`, first filling the text field
/// of that form when `text` is given.
fn step_action(b: &Browser, step: u32, label: &str, text: Option<(&str, &str)>) {
    if let Some((field, value)) = text {
        b.fill(&format!("#{field}-{step}"), value);
    }
    b.submit(&b.find_by_text(&format!("#step-{step} button"), label));
    b.wait_for("#room-title");
}

fn badge(b: &Browser, step: u32) -> String {
    b.text(&format!("#step-{step} .badge"))
}

fn room_form(b: &Browser, button: &str, fields: &[(&str, &str)]) {
    for (css, value) in fields {
        if css.contains(" option[") {
            b.click(&b.find(css));
        } else {
            b.fill(css, value);
        }
    }
    b.submit(&b.find_by_text("main form button", button));
    b.wait_for("#room-title");
}

#[test]
fn browser_walk_through_from_setup_to_closed_incident() {
    let Some(scene) = Scene::start() else { return };
    let b = &scene.alice;
    b.go("/incidents");
    assert!(b.text("main").contains("No incidents you can see match."));
    shot(b, "02-incidents-empty");

    let (room, codename) = scene.declare_security();
    // The tab shows the codename, never the title; the page carries the marking.
    assert_eq!(b.title(), format!("{codename} · Cordon"));
    assert!(!b.title().contains("Deploy key"));
    assert_eq!(b.text("#marking"), "Confidential — need to know");
    shot(b, "05-room-declared");

    // Take the commander role, then try step 3 before 1 and 2: the gate says what it waits for.
    b.submit(&b.find_by_text("main form button", "Take the Incident Commander role"));
    b.wait_for("#room-title");
    assert_eq!(b.text("#commander"), "alice");
    let gate = b.text("#step-3 .gate");
    assert!(
        gate.contains("Waits for: 1 Stop the attack in progress (pending), 2 Cut off the attack vector (pending)"),
        "{gate}"
    );
    step_action(b, 3, "Start step 3", None);
    let refusal = b.text("#refusal");
    assert!(
        refusal.contains("waits for 1 Stop the attack in progress (pending), 2 Cut off the attack vector (pending)"),
        "{refusal}"
    );
    assert_eq!(badge(b, 3), "pending");
    shot(b, "06-gate-refused");

    // Override with a reason; the journal shows who, what and why.
    let reason = "attacker still active; we need hands to contain";
    b.fill("#override-3-contain-first", reason);
    b.submit(&b.find_by_text("#step-3 button", "Override the gate on step 3"));
    b.wait_for("#room-title");
    let journal = b.text("#journal");
    assert!(
        journal.contains("alice overrode gate contain-first on step 3"),
        "{journal}"
    );
    assert!(journal.contains(reason), "{journal}");
    assert!(b.try_find("#step-3 .gate").is_none(), "the gate is lifted");
    step_action(b, 3, "Start step 3", None);
    assert_eq!(badge(b, 3), "in progress");
    shot(b, "07-gate-overridden");

    // Bring bob in as a subject-matter expert.
    room_form(
        b,
        "Assign role",
        &[
            ("#role-person", "bob"),
            ("#role-role option[value='subject-matter-expert']", ""),
        ],
    );
    assert!(
        b.text("#people").contains("bob subject-matter-expert"),
        "{}",
        b.text("#people")
    );

    // Finish the steps as in the README.
    step_action(
        b,
        1,
        "Mark step 1 done",
        Some(("note", "hosts isolated at the provider console")),
    );
    assert_eq!(badge(b, 1), "done");
    for step in 2..=10 {
        step_action(b, step, &format!("Mark step {step} done"), None);
        assert_eq!(badge(b, step), "done", "step {step}");
    }
    // Step 11 waits for a recorded decision.
    assert!(
        b.text("#step-11 .gate").contains("attack-not-internal"),
        "{}",
        b.text("#step-11")
    );
    room_form(
        b,
        "Record decision",
        &[
            ("#decision option[value='attack-not-internal']", ""),
            ("#decision-reason", "key leaked from a public CI log"),
        ],
    );
    step_action(b, 11, "Mark step 11 done", None);
    step_action(b, 12, "Not needed", Some(("skip", "no legal duty to report")));
    step_action(b, 13, "Not needed", Some(("skip", "no third party was used")));
    assert_eq!(badge(b, 12), "skipped");
    step_action(
        b,
        5,
        "Validate",
        Some(("validate-note", "timeline reviewed with counsel")),
    );
    step_action(b, 6, "Validate", None);
    step_action(b, 14, "Mark step 14 done", Some(("note", "customer notice sent")));
    for (status, why) in [
        ("contained", "access cut off"),
        ("resolved", "keys rotated"),
        ("closed", "all steps settled"),
    ] {
        room_form(
            b,
            "Change status",
            &[
                (&format!("#status-new option[value='{status}']"), ""),
                ("#status-reason", why),
            ],
        );
        assert_eq!(b.text("#status"), status);
    }
    assert!(
        b.text("#chain-state").contains("Hash chain verified."),
        "{}",
        b.text("#chain-state")
    );
    let journal = b.text("#journal");
    assert!(
        journal.contains("alice skipped step 12: “no legal duty to report”"),
        "{journal}"
    );
    b.resize(1280, 4200);
    shot(b, "08-room-closed-full");
    b.resize(1280, 900);
    b.go(&format!("{room}#journal"));
    shot(b, "09-journal");

    b.go("/incidents");
    let list = b.text("#incidents");
    assert!(list.contains(&codename), "{list}");
    assert!(!list.contains("Deploy key"), "the list shows the codename only: {list}");
    b.go("/incidents?kind=operational");
    assert!(b.text("main").contains("No incidents you can see match."));
    b.go("/incidents?kind=security&severity=sev-1&status=closed&mine=true");
    assert!(b.text("#incidents").contains(&codename));
    shot(b, "10-incidents-filtered");

    b.go("/audit");
    assert!(b.text("#audit-verdict").contains("Verified."), "{}", b.text("main"));
    shot(b, "11-audit");

    // A phone-width look at the room.
    b.resize(390, 844);
    b.go(&room);
    shot(b, "12-room-phone");
}

#[test]
fn browser_non_member_sees_no_trace_of_a_security_incident() {
    let Some(scene) = Scene::start() else { return };
    let (room, codename) = scene.declare_security();
    let id = room.trim_start_matches("/incidents/").to_owned();

    let eve = scene.browser("eve");
    sign_in(&eve, "eve", PASSWORD, None);
    eve.go("/incidents");
    let list = eve.source();
    assert!(!list.contains(&codename) && !list.contains(&id) && !list.contains("Deploy key"));
    for query in ["?kind=security", "?severity=sev-1", "?status=open", "?mine=true"] {
        eve.go(&format!("/incidents{query}"));
        assert!(eve.text("main").contains("No incidents you can see match."), "{query}");
    }
    eve.go(&room);
    let hidden = eve.source();
    let hidden_title = eve.title();
    eve.go("/incidents/00000000-0000-4000-8000-000000000000");
    let missing = eve.source();
    assert_eq!(
        hidden, missing,
        "a hidden incident's page is the missing page, byte for byte"
    );
    assert_eq!(hidden_title, "Not found · Cordon");
    eve.go(&format!("/incidents/{codename}"));
    assert_eq!(eve.source(), missing);
    assert!(!hidden.contains(&codename) && !hidden.contains("Deploy key"));
    shot(&eve, "13-non-member-404");

    // Once added, eve sees it; excluded again, it is gone.
    let b = &scene.alice;
    b.go(&room);
    room_form(b, "Add member", &[("#add-person", "eve")]);
    eve.go(&room);
    assert_eq!(eve.text("#room-title"), codename);
    room_form(
        b,
        "Exclude",
        &[("#exclude-person", "eve"), ("#exclude-reason", "suspected insider")],
    );
    eve.go(&room);
    assert_eq!(eve.source(), missing);
}

#[test]
fn browser_forms_without_the_csrf_field_are_refused() {
    let Some(scene) = Scene::start() else { return };
    let (room, _) = scene.declare_security();
    let b = &scene.alice;
    b.go(&room);
    let before = b.text("#journal");
    // Strip the hidden field from the "Start step 1" form and send it as the browser would.
    let page = b.html_root();
    b.script(
        "const form = [...document.querySelectorAll('#step-1 form')].find(f => f.textContent.includes('Start step 1'));\
         form.querySelector('input[name=csrf_token]').remove(); form.submit();",
    );
    b.wait_for_new_page(&page);
    b.wait_for("h1");
    assert_eq!(b.title(), "Not allowed · Cordon");
    assert!(
        b.text("main")
            .contains("this form did not come from this page of Cordon"),
        "{}",
        b.text("main")
    );
    shot(b, "14-csrf-refused");
    // A forged token fares no better.
    b.go(&room);
    let page = b.html_root();
    b.script(
        "const form = [...document.querySelectorAll('#step-1 form')].find(f => f.textContent.includes('Start step 1'));\
         form.querySelector('input[name=csrf_token]').value = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'; form.submit();",
    );
    b.wait_for_new_page(&page);
    b.wait_for("h1");
    assert_eq!(b.title(), "Not allowed · Cordon");
    // Sign-in without its form token is refused too.
    b.go("/sign-in");
    let page = b.html_root();
    b.script("document.querySelector('main form input[name=csrf_token]').remove(); document.querySelector('main form').submit();");
    b.wait_for_new_page(&page);
    b.wait_for("h1");
    assert_eq!(b.title(), "Not allowed · Cordon");
    // Nothing changed.
    b.go(&room);
    assert_eq!(b.text("#journal"), before);
    assert_eq!(badge(b, 1), "pending");
}

#[test]
fn browser_keyboard_alone_completes_a_step() {
    let Some(scene) = Scene::start() else { return };
    let (room, _) = scene.declare_security();
    let b = &scene.alice;
    b.go(&room);
    // Tab from the top of the page to a button, then press Enter, as a keyboard user would.
    let reach = |label: &str| {
        for _ in 0..400 {
            b.press(TAB);
            let active = b.active();
            if b.element_text(&active).trim() == label {
                return;
            }
        }
        panic!("Tab never reached {label:?}");
    };
    // The skip link comes first.
    b.press(TAB);
    assert_eq!(b.element_text(&b.active()), "Skip to content");
    reach("Start step 1");
    let page = b.html_root();
    b.press(ENTER);
    b.wait_for_new_page(&page);
    b.wait_for("#room-title");
    assert_eq!(badge(b, 1), "in progress");
    reach("Mark step 1 done");
    let page = b.html_root();
    b.press(ENTER);
    b.wait_for_new_page(&page);
    b.wait_for("#room-title");
    assert_eq!(badge(b, 1), "done");
    assert!(b.text("#journal").contains("alice completed step 1"));
    shot(b, "15-keyboard-step-done");
}

#[test]
fn browser_second_factor_and_api_tokens() {
    let Some(scene) = Scene::start() else { return };
    let bob = scene.browser("bob");
    sign_in(&bob, "bob", PASSWORD, None);
    bob.go("/account/totp");
    bob.submit(&bob.find_by_text("main form button", "Set up a second factor"));
    let secret: String = bob.text("code.secret").split_whitespace().collect();
    shot(&bob, "16-totp-enrol");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Confirm with the previous step's code and sign in with the current one: a code works once.
    bob.fill("#code", &cordon_auth::totp::code_at(&secret, now - 30).unwrap());
    bob.submit(&bob.find_by_text("main form button", "Confirm"));
    bob.wait_for("#totp");
    assert!(
        bob.text("main").contains("Your second factor is on"),
        "{}",
        bob.text("main")
    );
    bob.fill("#name", "bob");
    bob.fill("#password", PASSWORD);
    bob.submit(&bob.find_by_text("main form button", "Sign in"));
    bob.wait_for("h1");
    assert!(
        bob.text("main").contains("this account needs a one-time code"),
        "{}",
        bob.text("main")
    );
    shot(&bob, "17-sign-in-needs-code");
    sign_in(
        &bob,
        "bob",
        PASSWORD,
        Some(&cordon_auth::totp::code_at(&secret, now).unwrap()),
    );
    assert!(bob.url().ends_with("/incidents"), "{}", bob.url());

    bob.go("/account/tokens");
    bob.fill("#label", "ci pipeline");
    bob.submit(&bob.find_by_text("main form button", "Create token"));
    let token = bob.text("#new-token");
    assert!(token.starts_with("cdn_"), "{token}");
    shot(&bob, "18-token-created");
    bob.go("/account/tokens");
    assert!(!bob.source().contains(&token), "a token is shown once");
    bob.submit(&bob.find_by_text("main form button", "Revoke"));
    bob.wait_for("h1");
    assert!(bob.text("main table").contains("revoked"));
}
