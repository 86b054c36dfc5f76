//! The browser-test harness: chromedriver on a free port (killed on drop), a headless Chromium
//! session over plain-HTTP WebDriver, and page helpers that wait for conditions with a deadline,
//! check each page (labelled controls, no script or console errors, a title, no sideways
//! scrolling) and save a screenshot of the whole page.

use crate::helpers::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(30);

/// chromedriver, killed when dropped.
pub struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn find_binary(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Starts chromedriver on a free port, or explains why not.
/// Starts chromedriver for the browser test `what`; `None` (the test is skipped, saying why)
/// when Chromium or chromedriver is missing outside CI. Under CI (`CI` set) a missing browser
/// fails the test instead of skipping it.
pub async fn driver_or_skip(what: &str) -> Option<(Driver, PathBuf)> {
    match start_driver().await {
        Ok(d) => Some(d),
        Err(why) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED the {what} browser test: {why}");
            None
        }
        Err(why) => panic!("CI is set, so the {what} browser test must run: {why}"),
    }
}

pub async fn start_driver() -> Result<(Driver, PathBuf), String> {
    let driver = find_binary(
        "CHROMEDRIVER",
        &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
    )
    .ok_or("chromedriver is not installed (Debian: apt-get install chromium chromium-driver)")?;
    let browser = find_binary(
        "CHROME_BIN",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    )
    .ok_or("chromium is not installed (Debian: apt-get install chromium chromium-driver)")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let child = Command::new(&driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: cannot start: {e}", driver.display()))?;
    let d = Driver { child, port };
    let status = format!("http://127.0.0.1:{port}/status");
    let http = reqwest::Client::new();
    let up = eventually(WAIT, || async {
        http.get(&status)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    if !up {
        return Err(format!("chromedriver did not answer on port {port}"));
    }
    Ok((d, browser))
}

pub async fn browser(driver: &Driver, chromium: &PathBuf) -> Client {
    browser_with(driver, chromium, &[]).await
}

/// A browser session with extra Chromium switches (e.g. `--host-resolver-rules`).
pub async fn browser_with(driver: &Driver, chromium: &PathBuf, extra: &[&str]) -> Client {
    let mut args = vec![
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1440,900",
        "--lang=en-GB",
    ];
    args.extend_from_slice(extra);
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": chromium, "args": args },
    });
    let Value::Object(caps) = caps else {
        unreachable!("capabilities are an object")
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session in headless Chromium")
}

/// A browser on the app, with page checks and screenshots.
pub struct Ui<'a> {
    pub c: Client,
    pub app: &'a TestApp,
    pub shots: PathBuf,
}

impl Ui<'_> {
    pub async fn goto(&self, path: &str) {
        self.c.goto(&self.app.url(path)).await.expect("navigate");
    }

    pub async fn wait(&self, css: &str) -> fantoccini::elements::Element {
        let found = self
            .c
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(el) => el,
            Err(e) => panic!(
                "waiting for `{css}` on {:?}: {e}",
                self.c.current_url().await.ok()
            ),
        }
    }

    /// Waits until `script` (a JavaScript expression) is true.
    pub async fn until(&self, what: &str, script: &str) {
        let js = format!("return Boolean({script});");
        let ok = eventually(WAIT, || async {
            self.c.execute(&js, vec![]).await.ok() == Some(Value::Bool(true))
        })
        .await;
        assert!(ok, "timed out waiting until {what} (`{script}`)");
    }

    pub async fn js(&self, script: &str) -> Value {
        self.c.execute(script, vec![]).await.expect("run script")
    }

    /// Checks the page (labels, no script errors, no sideways scroll) and saves a screenshot of
    /// all of it.
    pub async fn page(&self, name: &str) {
        let unlabelled = self
            .js("return [...document.querySelectorAll('input, select, textarea')]
                   .filter((e) => e.type !== 'hidden' && !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                   .map((e) => e.outerHTML.slice(0, 120));")
            .await;
        assert_eq!(unlabelled, json!([]), "{name}: every control has a label");
        let errors = self
            .js("return window.__syErrors || ['app.js did not load'];")
            .await;
        assert_eq!(
            errors,
            json!([]),
            "{name}: no script or console errors, failed loads or blocked requests"
        );
        let overflow = self
            .js("return document.documentElement.scrollWidth - window.innerWidth;")
            .await;
        assert!(
            overflow.as_i64().unwrap_or(0) <= 1,
            "{name}: the page scrolls sideways by {overflow}px"
        );
        let title = self.c.title().await.unwrap_or_default();
        assert!(
            title.ends_with("· Switchyard") && title.len() > 14,
            "{name}: a page title, got `{title}`"
        );
        // The whole page, not just the window: grow the window to the page's height (up to a
        // limit) for the screenshot, then put it back.
        let (width, height) = self.c.get_window_size().await.expect("window size");
        let full = self
            .js("return document.documentElement.scrollHeight + Math.max(0, window.outerHeight - window.innerHeight);")
            .await
            .as_u64()
            .unwrap_or(height)
            .min(6000);
        if full > height {
            self.c
                .set_window_size(width as u32, full as u32)
                .await
                .expect("grow the window");
        }
        let png = self.c.screenshot().await.expect("screenshot");
        if full > height {
            self.c
                .set_window_size(width as u32, height as u32)
                .await
                .expect("restore the window");
        }
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("write screenshot");
    }

    pub async fn sign_in_as(&self, role: &str) {
        self.goto("/signin").await;
        self.wait(&format!("button[data-role='{role}']"))
            .await
            .click()
            .await
            .expect("click demo user");
        self.wait("#who button").await;
    }

    pub async fn sign_out(&self) {
        self.wait("#who button")
            .await
            .click()
            .await
            .expect("sign out");
        self.wait("button[data-role]").await;
    }
}
