//! Runs the real binary against a temporary data directory.

use std::path::PathBuf;
use std::process::{Command, Output};

pub struct Cordon {
    pub dir: tempfile::TempDir,
}

impl Cordon {
    pub fn new() -> Cordon {
        Cordon {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("cordon-data")
    }

    pub fn run(&self, user: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_cordon"))
            .args(args)
            .env("CORDON_DATA_DIR", self.data_dir())
            .env("CORDON_USER", user)
            .env_remove("CORDON_DATABASE_URL")
            .output()
            .unwrap()
    }

    /// Runs a command that must succeed and returns its stdout.
    #[track_caller]
    pub fn ok(&self, user: &str, args: &[&str]) -> String {
        let output = self.run(user, args);
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(output.status.success(), "cordon {args:?} failed:\n{stderr}\n{stdout}");
        stdout
    }

    /// Runs a command that must fail with exit code 1 and returns stdout and stderr together.
    #[track_caller]
    pub fn fails(&self, user: &str, args: &[&str]) -> String {
        let output = self.run(user, args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            output.status.code(),
            Some(1),
            "cordon {args:?} should fail with 1:\n{text}"
        );
        text
    }

    /// Declares a security incident as `user` and returns its codename.
    pub fn declare(&self, user: &str, title: &str) -> String {
        let json = self.ok(
            user,
            &[
                "--json",
                "incident",
                "open",
                "--kind",
                "security",
                "--severity",
                "sev-1",
                "--title",
                title,
            ],
        );
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value["codename"].as_str().unwrap().to_owned()
    }
}

/// A port nobody listens on right now, for a server the test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
