//! The `file` connector: appends each record as one line to an export file in `directory` —
//! JSON Lines, or CSV with a header row — named `<object>-<UTC date>-<seq>.<jsonl|csv>`.
//! A file is rotated when the next line would take it past `rotate_bytes`, and (with
//! `rotate_daily`, the default) when the UTC day of the attempt changes, so downstream jobs
//! can pick up finished files.
//!
//! Every line carries the delivery's idempotency key (`_delivery_id`); a key already in the
//! current file is not written again, so retries never duplicate a line within a file. The
//! keys of the open file are kept in memory and rebuilt by scanning the file when it is opened
//! (or changed behind our back). Appends to one directory are serialized by a process-wide
//! lock and each is flushed to disk (`sync_data`) before it counts as delivered. CSV columns
//! are `_delivery_id` then the sorted keys of the file's first record; later records are
//! written in that order, missing fields empty, extra fields dropped.
//!
//! It must never write outside `directory`, and never log record contents. One process writes
//! to a directory at a time: two worker processes sharing a folder need separate folders.

use super::{Action, Connector, Delivery, Outcome, SettingsError, setting};
use chrono::NaiveDate;
use futures::future::BoxFuture;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

/// Column and field holding the idempotency key.
pub const DELIVERY_ID: &str = "_delivery_id";
const DEFAULT_ROTATE_BYTES: u64 = 100 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Jsonl,
    Csv,
}

impl Format {
    fn ext(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
        }
    }
}

/// A configured export folder.
#[derive(Debug, Clone)]
pub struct FileExport {
    directory: PathBuf,
    format: Format,
    rotate_bytes: u64,
    rotate_daily: bool,
}

/// The file currently appended to for one object and format.
#[derive(Debug)]
struct OpenFile {
    path: PathBuf,
    date: NaiveDate,
    size: u64,
    keys: HashSet<String>,
    /// CSV header; empty for JSON Lines and for a CSV file not written yet.
    columns: Vec<String>,
    /// The file ends in a partial line (a crash mid-write): start the next one on a new line.
    needs_newline: bool,
}

type DirState = HashMap<String, OpenFile>;

static DIRS: LazyLock<Mutex<HashMap<PathBuf, Arc<Mutex<DirState>>>>> =
    LazyLock::new(Mutex::default);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FileExport {
    /// Reads `directory`, `format` (`jsonl` or `csv`), `rotate_bytes`, `rotate_daily`.
    pub fn new(settings: &Value) -> Result<Self, SettingsError> {
        let directory = PathBuf::from(setting::required(settings, "directory")?);
        let format = match setting::optional(settings, "format")?.unwrap_or("jsonl") {
            "jsonl" => Format::Jsonl,
            "csv" => Format::Csv,
            _ => return Err(SettingsError::new("format", "must be jsonl or csv")),
        };
        let rotate_bytes =
            setting::integer(settings, "rotate_bytes")?.unwrap_or(DEFAULT_ROTATE_BYTES);
        if rotate_bytes == 0 {
            return Err(SettingsError::new("rotate_bytes", "must be at least 1"));
        }
        let rotate_daily = setting::boolean(settings, "rotate_daily")?.unwrap_or(true);
        Ok(Self {
            directory,
            format,
            rotate_bytes,
            rotate_daily,
        })
    }

    fn append(&self, d: &Delivery) -> Result<Outcome, Outcome> {
        let record = d
            .record
            .as_object()
            .ok_or_else(|| permanent("the record must be a JSON object".into()))?;
        let dir = fs::canonicalize(&self.directory).map_err(|e| io_outcome("the directory", &e))?;
        let state = Arc::clone(lock(&DIRS).entry(dir.clone()).or_default());
        let mut state = lock(&state);
        let object = file_stem(&d.object);
        let slot = format!("{object}.{}", self.format.ext());
        let day = d.attempted_at.date_naive();
        let mut current = match state.remove(&slot) {
            Some(f) if f.unchanged() => f,
            Some(f) if f.path.exists() => self.load(f.path, f.date)?,
            _ => self.discover(&dir, &object, day)?,
        };
        if current.keys.contains(&d.idempotency_key) {
            state.insert(slot, current);
            return Ok(Outcome::Delivered { status: None });
        }
        if self.rotate_daily && current.date != day {
            current = self.fresh(&dir, &object, day)?;
        }
        let mut line = self.line(&mut current, record, &d.idempotency_key)?;
        if current.size > 0 && current.size + line.len() as u64 > self.rotate_bytes {
            current = self.fresh(&dir, &object, day)?;
            line = self.line(&mut current, record, &d.idempotency_key)?;
        }
        write_line(&current.path, &line).map_err(|e| io_outcome("writing the file", &e))?;
        current.size += line.len() as u64;
        current.needs_newline = false;
        current.keys.insert(d.idempotency_key.clone());
        state.insert(slot, current);
        Ok(Outcome::Delivered { status: None })
    }

    /// The bytes to append for one record (with the CSV header when the file is empty).
    fn line(
        &self,
        file: &mut OpenFile,
        record: &serde_json::Map<String, Value>,
        key: &str,
    ) -> Result<Vec<u8>, Outcome> {
        let mut out = Vec::new();
        if file.needs_newline {
            out.push(b'\n');
        }
        match self.format {
            Format::Jsonl => {
                let mut fields = record.clone();
                fields.insert(DELIVERY_ID.into(), Value::String(key.into()));
                serde_json::to_writer(&mut out, &fields)
                    .map_err(|e| permanent(format!("the record cannot be serialized: {e}")))?;
                out.push(b'\n');
            }
            Format::Csv => {
                let mut w = csv::Writer::from_writer(out);
                if file.columns.is_empty() {
                    let mut names: Vec<String> = record
                        .keys()
                        .filter(|k| k.as_str() != DELIVERY_ID)
                        .cloned()
                        .collect();
                    names.sort();
                    names.insert(0, DELIVERY_ID.into());
                    w.write_record(&names).map_err(csv_outcome)?;
                    file.columns = names;
                }
                let row = file.columns.iter().map(|c| match c.as_str() {
                    DELIVERY_ID => key.to_string(),
                    name => cell(record.get(name)),
                });
                w.write_record(row).map_err(csv_outcome)?;
                out = w
                    .into_inner()
                    .map_err(|e| csv_outcome(e.into_error().into()))?;
            }
        }
        Ok(out)
    }

    /// The newest file of `object`, or a new one when there is none or the day has turned.
    fn discover(&self, dir: &Path, object: &str, day: NaiveDate) -> Result<OpenFile, Outcome> {
        match self.existing(dir, object)?.into_iter().max() {
            Some((date, seq)) if !self.rotate_daily || date == day => {
                self.load(self.path(dir, object, date, seq), date)
            }
            _ => self.fresh(dir, object, day),
        }
    }

    /// A file not created yet: the next sequence number of `day`.
    fn fresh(&self, dir: &Path, object: &str, day: NaiveDate) -> Result<OpenFile, Outcome> {
        let files = self.existing(dir, object)?;
        let seq = files.iter().filter(|(d, _)| *d == day).map(|(_, s)| *s);
        let seq = seq.max().unwrap_or(0);
        Ok(OpenFile {
            path: self.path(dir, object, day, seq + 1),
            date: day,
            size: 0,
            keys: HashSet::new(),
            columns: Vec::new(),
            needs_newline: false,
        })
    }

    /// An existing file, its keys and CSV header read back from disk.
    fn load(&self, path: PathBuf, date: NaiveDate) -> Result<OpenFile, Outcome> {
        let scan = scan(&path, self.format).map_err(|e| io_outcome("reading the file", &e))?;
        Ok(OpenFile {
            path,
            date,
            size: scan.size,
            keys: scan.keys,
            columns: scan.columns,
            needs_newline: scan.partial_last_line,
        })
    }

    fn path(&self, dir: &Path, object: &str, date: NaiveDate, seq: u32) -> PathBuf {
        let ext = self.format.ext();
        dir.join(format!("{object}-{}-{seq}.{ext}", date.format("%Y-%m-%d")))
    }

    /// `(date, seq)` of this object's files in `dir`.
    fn existing(&self, dir: &Path, object: &str) -> Result<Vec<(NaiveDate, u32)>, Outcome> {
        self.list(dir, object)
            .map_err(|e| io_outcome("listing the directory", &e))
    }

    fn list(&self, dir: &Path, object: &str) -> io::Result<Vec<(NaiveDate, u32)>> {
        let (prefix, suffix) = (format!("{object}-"), format!(".{}", self.format.ext()));
        let mut out = Vec::new();
        for entry in fs::read_dir(dir)? {
            let name = entry?.file_name();
            let Some(rest) = name
                .to_str()
                .and_then(|n| n.strip_prefix(&prefix))
                .and_then(|n| n.strip_suffix(&suffix))
            else {
                continue;
            };
            let date = rest
                .get(..10)
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
            let seq = rest
                .get(10..)
                .and_then(|s| s.strip_prefix('-'))
                .and_then(|s| s.parse().ok());
            if let (Some(date), Some(seq)) = (date, seq) {
                out.push((date, seq));
            }
        }
        Ok(out)
    }
}

impl OpenFile {
    /// The file on disk is still the one we know (nobody moved, truncated or appended to it).
    fn unchanged(&self) -> bool {
        match fs::metadata(&self.path) {
            Ok(meta) => meta.len() == self.size,
            Err(_) => self.size == 0,
        }
    }
}

struct Scan {
    size: u64,
    keys: HashSet<String>,
    columns: Vec<String>,
    partial_last_line: bool,
}

/// Reads back the keys (and CSV header) of an export file.
fn scan(path: &Path, format: Format) -> io::Result<Scan> {
    let bytes = fs::read(path)?;
    let mut keys = HashSet::new();
    let mut columns = Vec::new();
    match format {
        Format::Jsonl => {
            for line in bytes.lines().map_while(Result::ok) {
                let id = serde_json::from_str::<Value>(&line)
                    .ok()
                    .and_then(|v| v.get(DELIVERY_ID)?.as_str().map(str::to_string));
                keys.extend(id);
            }
        }
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .flexible(true)
                .from_reader(bytes.as_slice());
            if let Ok(header) = reader.headers() {
                columns = header.iter().map(str::to_string).collect();
            }
            let at = columns.iter().position(|c| c == DELIVERY_ID);
            for row in reader.records().map_while(Result::ok) {
                keys.extend(at.and_then(|i| row.get(i)).map(str::to_string));
            }
        }
    }
    Ok(Scan {
        size: bytes.len() as u64,
        keys,
        columns,
        partial_last_line: bytes.last().is_some_and(|b| *b != b'\n'),
    })
}

fn write_line(path: &Path, line: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(line)?;
    file.sync_data()
}

/// A safe file-name part for an object kind (`event.form_submitted` stays as it is).
fn file_stem(object: &str) -> String {
    let stem: String = object
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .collect();
    match stem.trim_start_matches('.') {
        "" => "record".into(),
        s => s.to_string(),
    }
}

fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn permanent(error: String) -> Outcome {
    Outcome::Permanent {
        status: None,
        error,
    }
}

fn csv_outcome(e: csv::Error) -> Outcome {
    permanent(format!("the record cannot be written as CSV: {e}"))
}

/// Disk errors are retried (a full disk, a share remounting), except permissions.
fn io_outcome(doing: &str, e: &io::Error) -> Outcome {
    let error = format!("{doing}: {}", e.kind());
    if e.kind() == io::ErrorKind::PermissionDenied {
        permanent(error)
    } else {
        Outcome::Retry {
            status: None,
            error,
            retry_after: None,
        }
    }
}

impl Connector for FileExport {
    fn key(&self) -> &'static str {
        "file"
    }

    fn deliver<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            if delivery.action == Action::Remove {
                return permanent("file exports cannot remove lines".into());
            }
            let (this, d) = (self.clone(), delivery.clone());
            match tokio::task::spawn_blocking(move || this.append(&d)).await {
                Ok(outcome) => outcome.unwrap_or_else(|o| o),
                Err(e) => Outcome::Retry {
                    status: None,
                    error: format!("the append task failed: {e}"),
                    retry_after: None,
                },
            }
        })
    }
}

/// The directory exists and a file can be created in it (and removed again).
pub async fn check(settings: &Value) -> Result<(), SettingsError> {
    let export = FileExport::new(settings)?;
    let dir = export.directory;
    let result = tokio::task::spawn_blocking(move || {
        if !fs::metadata(&dir).is_ok_and(|m| m.is_dir()) {
            return Err("does not exist or is not a folder".to_string());
        }
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let probe = dir.join(format!(".switchyard-check-{}-{nanos}", std::process::id()));
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .and_then(|mut f| f.write_all(b"probe"));
        let removed = fs::remove_file(&probe);
        written
            .and(removed)
            .map_err(|e| format!("is not writable: {}", e.kind()))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    result.map_err(|message| SettingsError::new("directory", message))
}
