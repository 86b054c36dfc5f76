//! The README's five-minute tour, pasted as a newcomer would: the real `switchyard serve` in a
//! stand-in repository root, then the tour's second terminal block, verbatim but for the port.
//! It must work, and write its own files (`form.yaml`, `audit.jsonl`) outside the repository.

use crate::helpers::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The shell block that follows "In another, from the repository root".
fn tour_block() -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let after = readme
        .split_once("In another, from the repository root")
        .map(|(_, rest)| rest)
        .expect("the tour's second terminal");
    let start = after.find("```sh\n").expect("a shell block") + "```sh\n".len();
    let len = after[start..].find("```").expect("the block ends");
    after[start..start + len].to_string()
}

/// A directory laid out like the repository (the binary under `target/release/`, the policy),
/// with `switchyard serve` started in it as the tour's first terminal does.
#[cfg(unix)]
fn serve_in_stand_in_root(root: &std::path::Path, database_url: &str) -> (Server, String) {
    std::fs::create_dir_all(root.join("target/release")).expect("mkdir");
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_switchyard"),
        root.join("target/release/switchyard"),
    )
    .expect("link the binary");
    std::os::unix::fs::symlink(policy_dir(), root.join("policies")).expect("link policies");
    let mut child = Command::new(root.join("target/release/switchyard"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(root)
        .env("DATABASE_URL", database_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start serve");
    let out = child.stdout.take().expect("stdout");
    let server = Server(child);
    let addr = BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split("ready on http://")
                .nth(1)
                .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
        })
        .expect("serve printed its address");
    (server, addr)
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_tour_works_and_writes_nothing_into_the_repository() {
    let root = tempfile::tempdir().expect("tempdir");
    let root = root.path();
    let database_url = fresh_database_url(&root.join("data")).await;
    let (server, addr) = serve_in_stand_in_root(root, &database_url);

    let script = tour_block().replace("127.0.0.1:8080", &addr);
    let root_path = root.to_path_buf();
    let run = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .args(["-c", &script])
            .current_dir(&root_path)
            .env("DATABASE_URL", &database_url)
            .output()
            .expect("run bash")
    })
    .await
    .expect("join");
    drop(server);
    let out = stdout(&run);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "the tour ends well:\n{out}\n{err}");
    for expected in [
        "\"sub\":\"alice\"",
        "\"code\":\"FORBIDDEN\"",
        "\"lifecycle\":\"DEPRECATED\"",
        "BREAKING",
        "lead-routing",
        "exit 1",
        "\"accepted\":1",
        "\"flows\"",
        "hash chain intact",
    ] {
        assert!(
            out.contains(expected),
            "the tour shows `{expected}`:\n{out}\n{err}"
        );
    }
    let left: Vec<String> = std::fs::read_dir(root)
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !["target", "policies", "data"].contains(&n.as_str()))
        .collect();
    assert_eq!(
        left,
        Vec::<String>::new(),
        "the tour wrote nothing into the repository root"
    );
}
