//! A local SMTP server for email tests: Python's `aiosmtpd` (tests/e2e/fixtures/smtp_server.py)
//! on a free loopback port, recording every message it accepts — envelope, headers and text —
//! so tests check what a mail server received. Recipients `refuse-451…` are refused with 451
//! (try later), `refuse-550…` with 550 (no such mailbox). Without aiosmtpd the tests say so and
//! pass, unless `CI` is set: then they fail (.ci/run installs it).

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct SmtpServer {
    pub port: u16,
    out: tempfile::NamedTempFile,
    child: Child,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl SmtpServer {
    /// Starts the server; `None` (outside CI) when Python's aiosmtpd is not installed.
    pub fn start() -> Option<Self> {
        let available = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !available {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install aiosmtpd (pip install aiosmtpd)"
            );
            eprintln!("skipped: pip install aiosmtpd to run the SMTP tests");
            return None;
        }
        let out = tempfile::NamedTempFile::new().expect("message log");
        let script = crate::helpers::repo_root().join("tests/e2e/fixtures/smtp_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(out.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the SMTP server prints its port");
        let port = line.trim().parse().expect("a port number");
        Some(Self { port, out, child })
    }

    /// Every message accepted so far, in order.
    pub fn messages(&self) -> Vec<Value> {
        std::fs::read_to_string(self.out.path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}
