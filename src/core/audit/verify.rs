//! Offline verification of audit files (`coffer audit verify`).
//!
//! The files are read in the order given as one continuous chain (rotated files oldest first:
//! `audit.log.1` then `audit.log`). Every line must follow the previous one by `seq` and by
//! `prev_hash`, every checkpoint must carry a valid signature from the given public key, every
//! file must start with an `open` checkpoint and end with a `close` checkpoint (the last file may
//! be left open with `--allow-open-tail`). The first problem is reported with its file and
//! 1-based line number, and with the most likely explanation (edit, deletion, reordering,
//! truncation, or a gap between files).

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::Deserialize;
use serde_json::Value;

use super::chain::{self, Reason};

/// What the verifier accepts beyond a fully closed log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Accept a last file that does not end with a `close` checkpoint (a file the server is still
    /// writing): the unsigned tail becomes a warning instead of a failure.
    pub allow_open_tail: bool,
}

/// What a successful verification covered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Lines that are not checkpoints.
    pub entries: u64,
    /// Checkpoint lines (all with valid signatures).
    pub checkpoints: u64,
    /// Files read.
    pub files: usize,
    /// `seq` of the first line.
    pub first_seq: u64,
    /// `seq` of the last line.
    pub last_seq: u64,
    /// `seq` of the last checkpoint: every line up to it is vouched for by a signature.
    pub last_signed_seq: u64,
    /// Things worth knowing that do not make the log invalid.
    pub warnings: Vec<String>,
}

/// The first problem found, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The file, as given.
    pub file: String,
    /// 1-based line number (0 when the file could not be read at all).
    pub line: usize,
    /// What is wrong, and its most likely cause.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for Failure {}

const DAMAGED: &str = "line is not a valid audit entry (edited or damaged)";
const TRUNCATED_LINE: &str = "the file ends in the middle of a line (truncated mid-entry)";
const EMPTY: &str = "the file is empty (no opening checkpoint)";
const MODIFIED: &str = "entry was modified: its hash does not match the prev_hash recorded by the next line";
const RELINKED: &str = "entry was modified: its prev_hash does not match the previous line";
const BAD_ANCHOR: &str = "entry was modified: the first line of a chain (seq 1) must have a prev_hash of 64 zeros";
const BAD_SIGNATURE: &str =
    "checkpoint signature is invalid: the log before this line was rewritten, or this checkpoint was edited";
const NO_OPEN: &str = "the file does not start with an opening checkpoint: lines were removed from its start";
const NO_CLOSE: &str = "the file ends without a closing checkpoint: its tail was truncated";
const LIVE_HINT: &str =
    "the tail was truncated, or the server is still writing this file (use --allow-open-tail for a live file)";

/// CLI entry point of `coffer audit verify`: `public_key` is a file holding the key (base64 or
/// PEM) or the key text itself. Prints a summary (stdout) or the failure (stderr) and returns the
/// exit code: 0 verified, 1 verification failed, 2 usage error.
pub fn run(paths: &[PathBuf], public_key: &str, allow_open_tail: bool) -> i32 {
    if paths.is_empty() {
        eprintln!("Error: no audit files given");
        return 2;
    }
    let key = match load_public_key(public_key) {
        Ok(key) => key,
        Err(e) => {
            eprintln!("Error: {e}");
            return 2;
        }
    };
    match verify_files(paths, &key, &Options { allow_open_tail }) {
        Ok(report) => {
            for warning in &report.warnings {
                eprintln!("Warning: {warning}");
            }
            println!("{}", summary(&report));
            0
        }
        Err(failure) => {
            eprintln!("FAILED: {failure}");
            1
        }
    }
}

/// Reads the key from the file `arg` names if there is one, else parses `arg` itself.
fn load_public_key(arg: &str) -> Result<VerifyingKey, String> {
    let path = Path::new(arg);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the public key file {}: {e}", path.display()))?;
        return chain::parse_public_key(&text).map_err(|e| format!("{}: {e}", path.display()));
    }
    chain::parse_public_key(arg).map_err(|e| format!("--public-key is neither an existing file nor a valid key: {e}"))
}

/// The one-line summary printed on success.
fn summary(r: &Report) -> String {
    format!(
        "OK: {} and {} in {}, seq {}..{}, signed through seq {}",
        plural(r.entries, "entry", "entries"),
        plural(r.checkpoints, "checkpoint", "checkpoints"),
        plural(r.files as u64, "file", "files"),
        r.first_seq,
        r.last_seq,
        r.last_signed_seq
    )
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Reads the files and verifies them as one chain ([`verify_bytes`]); a file that cannot be read
/// is a failure at line 0.
pub fn verify_files(paths: &[PathBuf], key: &VerifyingKey, opts: &Options) -> Result<Report, Failure> {
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let name = path.display().to_string();
        match std::fs::read(path) {
            Ok(data) => files.push((name, data)),
            Err(e) => return Err(Failure { file: name, line: 0, message: format!("cannot read the file: {e}") }),
        }
    }
    verify_bytes(&files, key, opts)
}

/// Verifies `(name, contents)` pairs, in order, as one continuous chain signed by `key`.
pub fn verify_bytes(files: &[(String, Vec<u8>)], key: &VerifyingKey, opts: &Options) -> Result<Report, Failure> {
    if files.is_empty() {
        return Err(Failure { file: String::new(), line: 0, message: "no audit files given".to_string() });
    }
    let mut verifier = Verifier {
        files,
        key,
        key_id: chain::key_id(key),
        opts,
        report: Report { files: files.len(), ..Report::default() },
        prev: None,
        device: None,
        mixed_devices: false,
    };
    for idx in 0..files.len() {
        verifier.verify_file(idx)?;
    }
    Ok(verifier.report)
}

/// One line of a file, split on `\n`.
#[derive(Clone, Copy)]
struct RawLine<'a> {
    /// 1-based line number.
    no: usize,
    /// The line without its newline.
    bytes: &'a [u8],
    /// Offset just past the line and its newline.
    end: usize,
    /// False for a final fragment without a newline.
    complete: bool,
}

/// Iterates over the lines of a file's bytes.
struct Lines<'a> {
    data: &'a [u8],
    pos: usize,
    no: usize,
}

impl<'a> Lines<'a> {
    fn new(data: &'a [u8]) -> Self {
        Lines { data, pos: 0, no: 0 }
    }

    /// The lines after `line`.
    fn after(data: &'a [u8], line: &RawLine<'_>) -> Self {
        Lines { data, pos: line.end, no: line.no }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = RawLine<'a>;

    fn next(&mut self) -> Option<RawLine<'a>> {
        let rest = self.data.get(self.pos..).filter(|r| !r.is_empty())?;
        self.no += 1;
        let line = match rest.iter().position(|&b| b == b'\n') {
            Some(n) => RawLine { no: self.no, bytes: rest.split_at(n).0, end: self.pos + n + 1, complete: true },
            None => RawLine { no: self.no, bytes: rest, end: self.data.len(), complete: false },
        };
        self.pos = line.end;
        Some(line)
    }
}

/// The fields of a line the verifier reads (all others are ignored).
#[derive(Deserialize)]
struct Fields {
    seq: u64,
    prev_hash: String,
    #[serde(rename = "type", default)]
    kind: Option<Value>,
    #[serde(default)]
    time: Option<Value>,
    #[serde(default)]
    checkpoint: Option<Value>,
}

/// Only the sequence number, for looking ahead.
#[derive(Deserialize)]
struct SeqOnly {
    seq: u64,
}

/// A parsed line.
struct Entry {
    seq: u64,
    prev_hash: String,
    hash: [u8; 32],
    checkpoint: Option<Checkpoint>,
}

impl Entry {
    fn reason(&self) -> Option<Reason> {
        self.checkpoint.as_ref().map(|c| c.reason)
    }
}

/// The signed part of a checkpoint line.
struct Checkpoint {
    device: String,
    reason: Reason,
    key_id: String,
    signature: Signature,
    time: String,
}

fn parse_line(bytes: &[u8]) -> Result<Entry, String> {
    if bytes.first() != Some(&b'{') {
        return Err(DAMAGED.to_string());
    }
    let fields: Fields = serde_json::from_slice(bytes).map_err(|_| DAMAGED.to_string())?;
    if fields.prev_hash.len() != 64 || !fields.prev_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DAMAGED.to_string());
    }
    let checkpoint = match fields.kind.as_ref().and_then(Value::as_str) {
        Some("checkpoint") => Some(parse_checkpoint(fields.time.as_ref(), fields.checkpoint.as_ref())?),
        _ => None,
    };
    Ok(Entry { seq: fields.seq, prev_hash: fields.prev_hash, hash: chain::line_hash(bytes), checkpoint })
}

fn parse_checkpoint(time: Option<&Value>, checkpoint: Option<&Value>) -> Result<Checkpoint, String> {
    let bad =
        |what: &str| format!("line is not a valid checkpoint: its {what} is missing or invalid (edited or damaged)");
    let cp = checkpoint.filter(|v| v.is_object()).ok_or_else(|| bad("\"checkpoint\" object"))?;
    let text = |name: &str| cp.get(name).and_then(Value::as_str).map(str::to_string).ok_or_else(|| bad(name));
    let device = text("device")?;
    let reason = Reason::parse(&text("reason")?).ok_or_else(|| bad("reason"))?;
    let key_id = text("key_id")?;
    let signature = decode_signature(&text("signature")?).ok_or_else(|| bad("signature"))?;
    let time = time.and_then(Value::as_str).ok_or_else(|| bad("time"))?.to_string();
    Ok(Checkpoint { device, reason, key_id, signature, time })
}

fn decode_signature(b64: &str) -> Option<Signature> {
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let bytes: [u8; 64] = raw.as_slice().try_into().ok()?;
    Some(Signature::from_bytes(&bytes))
}

/// True if `entry`'s checkpoint signature verifies with `key`.
fn signature_valid(key: &VerifyingKey, entry: &Entry, cp: &Checkpoint) -> bool {
    let msg = chain::signed_message(&cp.device, entry.seq, &entry.prev_hash, &cp.time, cp.reason.as_str());
    key.verify_strict(&msg, &cp.signature).is_ok()
}

/// The last line accepted.
#[derive(Clone, Copy)]
struct Prev {
    seq: u64,
    hash: [u8; 32],
    file: usize,
    line: usize,
    reason: Option<Reason>,
}

/// Where a file stands after its lines were read.
#[derive(Default)]
struct Tail {
    last_line: usize,
    last_reason: Option<Reason>,
    last_checkpoint: usize,
    unsigned: u64,
}

struct Verifier<'a> {
    files: &'a [(String, Vec<u8>)],
    key: &'a VerifyingKey,
    key_id: String,
    opts: &'a Options,
    report: Report,
    prev: Option<Prev>,
    /// The device the first checkpoint names, and where.
    device: Option<(String, String)>,
    /// Whether the mixed-devices warning was given.
    mixed_devices: bool,
}

impl<'a> Verifier<'a> {
    fn fail(&self, file: usize, line: usize, message: impl Into<String>) -> Failure {
        let name = self.files.get(file).map(|(n, _)| n.clone()).unwrap_or_default();
        Failure { file: name, line, message: message.into() }
    }

    fn name(&self, file: usize) -> &str {
        self.files.get(file).map_or("", |(n, _)| n.as_str())
    }

    fn data(&self, file: usize) -> &'a [u8] {
        let files: &'a [(String, Vec<u8>)] = self.files;
        files.get(file).map_or(&[], |(_, d)| d.as_slice())
    }

    fn verify_file(&mut self, idx: usize) -> Result<(), Failure> {
        let mut tail = Tail::default();
        for line in Lines::new(self.data(idx)) {
            let entry = self.verify_line(idx, &line)?;
            tail.last_line = line.no;
            tail.last_reason = entry.reason();
            if entry.checkpoint.is_some() {
                tail.last_checkpoint = line.no;
                tail.unsigned = 0;
                self.report.checkpoints += 1;
                self.report.last_signed_seq = entry.seq;
            } else {
                tail.unsigned += 1;
                self.report.entries += 1;
            }
            self.report.last_seq = entry.seq;
            self.prev =
                Some(Prev { seq: entry.seq, hash: entry.hash, file: idx, line: line.no, reason: entry.reason() });
        }
        self.check_end(idx, &tail)
    }

    /// All checks on one line, in order: parse, sequence, link, signature, file structure.
    fn verify_line(&mut self, idx: usize, line: &RawLine<'_>) -> Result<Entry, Failure> {
        if !line.complete {
            return Err(self.fail(idx, line.no, TRUNCATED_LINE));
        }
        let entry = parse_line(line.bytes).map_err(|m| self.fail(idx, line.no, m))?;
        match self.prev {
            None => self.check_anchor(idx, line, &entry)?,
            Some(prev) => {
                self.check_seq(idx, line, &entry, &prev)?;
                self.check_link(idx, line, &entry, &prev)?;
            }
        }
        if let Some(cp) = &entry.checkpoint {
            self.check_checkpoint(idx, line, &entry, cp)?;
        }
        self.check_structure(idx, line, &entry)?;
        Ok(entry)
    }

    /// The first line overall is trusted as the start of the chain.
    fn check_anchor(&mut self, idx: usize, line: &RawLine<'_>, entry: &Entry) -> Result<(), Failure> {
        self.report.first_seq = entry.seq;
        if entry.seq == 1 && entry.prev_hash != hex::encode(chain::Head::GENESIS.hash) {
            return Err(self.fail(idx, line.no, BAD_ANCHOR));
        }
        if entry.seq > 1 {
            self.report.warnings.push(format!(
                "the chain starts at seq {} in {}: earlier entries are in files not given here (older rotated \
                 files, or deleted ones)",
                entry.seq,
                self.name(idx)
            ));
        }
        Ok(())
    }

    fn check_seq(&self, idx: usize, line: &RawLine<'_>, entry: &Entry, prev: &Prev) -> Result<(), Failure> {
        if entry.seq.checked_sub(1) == Some(prev.seq) {
            return Ok(());
        }
        let expected = prev.seq.saturating_add(1);
        let message = if prev.file != idx {
            format!(
                "gap between files: this file starts at seq {} but the previous file ({}) ends at seq {}",
                entry.seq,
                self.name(prev.file),
                prev.seq
            )
        } else if entry.seq > expected {
            match self.find_seq(idx, line, expected) {
                Some(at) => format!(
                    "entries are out of order: seq {} appears here but seq {expected} comes later (line {at})",
                    entry.seq
                ),
                None => format!("seq jumps from {} to {}: entries were deleted before this line", prev.seq, entry.seq),
            }
        } else {
            format!("entries are out of order: seq {} follows seq {}", entry.seq, prev.seq)
        };
        Err(self.fail(idx, line.no, message))
    }

    /// The line number of a later line of the same file with this `seq`.
    fn find_seq(&self, idx: usize, line: &RawLine<'_>, seq: u64) -> Option<usize> {
        Lines::after(self.data(idx), line)
            .find(|l| serde_json::from_slice::<SeqOnly>(l.bytes).is_ok_and(|s| s.seq == seq))
            .map(|l| l.no)
    }

    /// `prev_hash` must be the hash of the previous line. On a mismatch, decide which of the two
    /// lines was edited: if this line is vouched for (the next line links to it, or it is a
    /// validly signed checkpoint), the previous line changed; otherwise this one did.
    fn check_link(&self, idx: usize, line: &RawLine<'_>, entry: &Entry, prev: &Prev) -> Result<(), Failure> {
        if entry.prev_hash == hex::encode(prev.hash) {
            return Ok(());
        }
        let vouched = self.next_links_to(idx, line, &entry.hash)
            || entry.checkpoint.as_ref().is_some_and(|cp| signature_valid(self.key, entry, cp));
        if vouched {
            return Err(self.fail(prev.file, prev.line, MODIFIED));
        }
        if prev.file != idx {
            let message =
                format!("gap between files: this file does not continue the previous file ({})", self.name(prev.file));
            return Err(self.fail(idx, line.no, message));
        }
        Err(self.fail(idx, line.no, RELINKED))
    }

    /// True if the line after `line` (possibly the first line of the next file) records `hash`
    /// as its `prev_hash`.
    fn next_links_to(&self, idx: usize, line: &RawLine<'_>, hash: &[u8; 32]) -> bool {
        let next = Lines::after(self.data(idx), line).next().or_else(|| Lines::new(self.data(idx + 1)).next());
        next.and_then(|l| parse_line(l.bytes).ok()).is_some_and(|e| e.prev_hash == hex::encode(hash))
    }

    fn check_checkpoint(
        &mut self,
        idx: usize,
        line: &RawLine<'_>,
        entry: &Entry,
        cp: &Checkpoint,
    ) -> Result<(), Failure> {
        if cp.key_id != self.key_id {
            let message = format!(
                "checkpoint was signed by another key (key_id {}; the given public key is {})",
                cp.key_id, self.key_id
            );
            return Err(self.fail(idx, line.no, message));
        }
        if !signature_valid(self.key, entry, cp) {
            return Err(self.fail(idx, line.no, BAD_SIGNATURE));
        }
        self.note_device(idx, line, &cp.device);
        Ok(())
    }

    /// Warns (once) when checkpoints name more than one device.
    fn note_device(&mut self, idx: usize, line: &RawLine<'_>, device: &str) {
        let here = format!("{}:{}", self.name(idx), line.no);
        let warning = match &self.device {
            None => {
                self.device = Some((device.to_string(), here));
                return;
            }
            Some((first, at)) if first != device && !self.mixed_devices => format!(
                "checkpoints name more than one device: {first:?} ({at}) and {device:?} ({here}); were logs of \
                 different devices mixed?"
            ),
            Some(_) => return,
        };
        self.mixed_devices = true;
        self.report.warnings.push(warning);
    }

    /// A file starts with an `open` checkpoint, and after a `close` only an `open` may follow
    /// (the server restarted and appended to the same file).
    fn check_structure(&self, idx: usize, line: &RawLine<'_>, entry: &Entry) -> Result<(), Failure> {
        let opens = entry.reason() == Some(Reason::Open);
        if line.no == 1 && !opens {
            return Err(self.fail(idx, line.no, NO_OPEN));
        }
        let after_close = self.prev.filter(|p| p.file == idx && p.reason == Some(Reason::Close));
        if let Some(close) = after_close.filter(|_| !opens) {
            let message = format!(
                "a closing checkpoint (line {}) is followed by a line other than an opening checkpoint: lines were \
                 appended after the file was closed, or removed",
                close.line
            );
            return Err(self.fail(idx, line.no, message));
        }
        Ok(())
    }

    /// Every file but the last ends with a `close` checkpoint; the last one too unless an open
    /// tail is allowed.
    fn check_end(&mut self, idx: usize, tail: &Tail) -> Result<(), Failure> {
        if tail.last_line == 0 {
            return Err(self.fail(idx, 1, EMPTY));
        }
        if tail.last_reason == Some(Reason::Close) {
            return Ok(());
        }
        if idx + 1 < self.files.len() {
            return Err(self.fail(idx, tail.last_line, NO_CLOSE));
        }
        let name = self.name(idx).to_string();
        if self.opts.allow_open_tail {
            let warning = match tail.unsigned {
                0 => format!("{name}: the file does not end with a closing checkpoint yet (still being written)"),
                n => format!(
                    "{name}: {} after the last checkpoint (line {}) {} not signed yet",
                    plural(n, "entry", "entries"),
                    tail.last_checkpoint,
                    if n == 1 { "is" } else { "are" }
                ),
            };
            self.report.warnings.push(warning);
            return Ok(());
        }
        let message = match tail.unsigned {
            0 => format!(
                "the log ends without a closing checkpoint: its last line is {} checkpoint — {LIVE_HINT}",
                tail.last_reason.map_or("a", |r| if r == Reason::Open { "an open" } else { "a periodic" })
            ),
            n => format!(
                "the log ends without a closing checkpoint: the {} after the last checkpoint (line {}) {} unsigned — \
                 {LIVE_HINT}",
                plural(n, "entry", "entries"),
                tail.last_checkpoint,
                if n == 1 { "is" } else { "are" }
            ),
        };
        Err(self.fail(idx, tail.last_line, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::audit::chain::{checkpoint_into, seal_into, Head};
    use ed25519_dalek::SigningKey;

    const TIME: &str = "2026-01-01T00:00:00Z";

    fn signer(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn public(n: u8) -> VerifyingKey {
        signer(n).verifying_key()
    }

    fn entry_body(i: usize) -> String {
        format!(r#"{{"time":"{TIME}","type":"request","request":{{"id":"req-{i:04}"}}}}"#)
    }

    /// A file continuing `head`: an open checkpoint, `k` entries with a periodic checkpoint after
    /// every `every` of them, and a close checkpoint.
    fn file(head: &mut Head, k: usize, every: usize) -> Vec<u8> {
        let key = signer(1);
        let mut out = Vec::new();
        checkpoint_into(head, "file", Reason::Open, &key, TIME, &mut out);
        for i in 1..=k {
            seal_into(head, entry_body(i).as_bytes(), &mut out);
            if i % every == 0 && i < k {
                checkpoint_into(head, "file", Reason::Periodic, &key, TIME, &mut out);
            }
        }
        checkpoint_into(head, "file", Reason::Close, &key, TIME, &mut out);
        out
    }

    /// 9 lines: 1 open, 2-4 entries, 5 periodic, 6-8 entries, 9 close (seq = line number).
    fn standard() -> Vec<u8> {
        let mut head = Head::GENESIS;
        file(&mut head, 6, 3)
    }

    fn lines(data: &[u8]) -> Vec<Vec<u8>> {
        data.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
    }

    fn join(lines: &[Vec<u8>]) -> Vec<u8> {
        lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect()
    }

    /// Replaces the first occurrence of `from` in line `no` (1-based).
    fn edit(data: &[u8], no: usize, from: &str, to: &str) -> Vec<u8> {
        let mut ls = lines(data);
        let line = String::from_utf8(ls[no - 1].clone()).unwrap();
        assert!(line.contains(from), "line {no} has no {from:?}: {line}");
        ls[no - 1] = line.replacen(from, to, 1).into_bytes();
        join(&ls)
    }

    fn verify(files: &[(&str, Vec<u8>)], key: &VerifyingKey, allow_open_tail: bool) -> Result<Report, Failure> {
        let files: Vec<(String, Vec<u8>)> = files.iter().map(|(n, d)| (n.to_string(), d.clone())).collect();
        verify_bytes(&files, key, &Options { allow_open_tail })
    }

    fn verify_one(data: Vec<u8>) -> Result<Report, Failure> {
        verify(&[("audit.log", data)], &public(1), false)
    }

    #[track_caller]
    fn assert_fails(result: Result<Report, Failure>, file: &str, line: usize, message: &str) {
        let failure = result.unwrap_err();
        assert_eq!((failure.file.as_str(), failure.line), (file, line), "{failure}");
        assert!(failure.message.contains(message), "{failure}\nexpected: {message}");
    }

    #[test]
    fn an_untouched_log_verifies_with_counts() {
        let report = verify_one(standard()).unwrap();
        assert_eq!(
            report,
            Report {
                entries: 6,
                checkpoints: 3,
                files: 1,
                first_seq: 1,
                last_seq: 9,
                last_signed_seq: 9,
                warnings: vec![]
            }
        );
        assert_eq!(summary(&report), "OK: 6 entries and 3 checkpoints in 1 file, seq 1..9, signed through seq 9");
    }

    #[test]
    fn an_edited_entry_is_reported_at_its_own_line() {
        // Line 3 is followed by an entry, line 4 by the periodic checkpoint, line 8 by the close.
        for no in [3, 4, 8] {
            let id = format!("req-{:04}", if no < 5 { no - 1 } else { no - 2 });
            let data = edit(&standard(), no, &id, &id.replace("req", "rex"));
            assert_fails(verify_one(data), "audit.log", no, MODIFIED);
        }
    }

    #[test]
    fn an_edited_prev_hash_is_reported_at_its_line() {
        for no in [3, 5] {
            let ls = lines(&standard());
            let text = String::from_utf8(ls[no - 1].clone()).unwrap();
            let at = text.find("\"prev_hash\":\"").unwrap() + 13;
            let digit = if text.as_bytes()[at] == b'a' { "b" } else { "a" };
            let mut edited = text.clone();
            edited.replace_range(at..at + 1, digit);
            let mut ls = ls;
            ls[no - 1] = edited.into_bytes();
            assert_fails(verify_one(join(&ls)), "audit.log", no, RELINKED);
        }
    }

    #[test]
    fn a_deleted_line_is_reported_where_it_was() {
        let mut ls = lines(&standard());
        ls.remove(2);
        assert_fails(
            verify_one(join(&ls)),
            "audit.log",
            3,
            "seq jumps from 2 to 4: entries were deleted before this line",
        );
    }

    #[test]
    fn swapped_lines_are_reported_as_reordering() {
        let mut ls = lines(&standard());
        ls.swap(2, 3);
        assert_fails(
            verify_one(join(&ls)),
            "audit.log",
            3,
            "entries are out of order: seq 4 appears here but seq 3 comes later (line 4)",
        );
        let mut ls = lines(&standard());
        ls.swap(2, 6);
        let result = verify_one(join(&ls));
        assert_fails(result, "audit.log", 3, "seq 7 appears here but seq 3 comes later (line 7)");
    }

    #[test]
    fn a_truncated_tail_fails_unless_the_open_tail_is_allowed() {
        let mut ls = lines(&standard());
        ls.pop();
        let data = join(&ls);
        assert_fails(
            verify_one(data.clone()),
            "audit.log",
            8,
            "the log ends without a closing checkpoint: the 3 entries after the last checkpoint (line 5) are unsigned",
        );
        let report = verify(&[("audit.log", data)], &public(1), true).unwrap();
        assert_eq!((report.entries, report.checkpoints, report.last_seq, report.last_signed_seq), (6, 2, 8, 5));
        assert_eq!(report.warnings, vec!["audit.log: 3 entries after the last checkpoint (line 5) are not signed yet"]);
        // Cut right after a periodic checkpoint: everything is signed, but the file is not closed.
        ls.truncate(5);
        assert_fails(verify_one(join(&ls)), "audit.log", 5, "its last line is a periodic checkpoint");
        assert!(verify(&[("audit.log", join(&ls))], &public(1), true).is_ok());
    }

    #[test]
    fn a_cut_in_the_middle_of_a_line_is_reported() {
        let data = standard();
        let ls = lines(&data);
        let cut: usize = ls[..6].iter().map(|l| l.len() + 1).sum::<usize>() + 20;
        assert_fails(verify_one(data[..cut].to_vec()), "audit.log", 7, TRUNCATED_LINE);
        // Only the final newline missing is a truncation too.
        assert_fails(verify_one(data[..data.len() - 1].to_vec()), "audit.log", 9, TRUNCATED_LINE);
    }

    #[test]
    fn a_removed_opening_checkpoint_is_reported() {
        let mut ls = lines(&standard());
        ls.remove(0);
        assert_fails(verify_one(join(&ls)), "audit.log", 1, NO_OPEN);
    }

    #[test]
    fn a_changed_checkpoint_reason_breaks_its_signature() {
        let data = edit(&standard(), 5, r#""reason":"periodic""#, r#""reason":"close""#);
        assert_fails(verify_one(data), "audit.log", 5, BAD_SIGNATURE);
    }

    #[test]
    fn recomputed_hashes_after_an_edit_fail_at_the_next_checkpoint() {
        let edited = edit(&standard(), 3, "req-0002", "rex-0002");
        let ls = lines(&edited);
        let mut head = Head { seq: 2, hash: chain::line_hash(&ls[1]) };
        let mut out = join(&ls[..2]);
        for line in &ls[2..] {
            let text = String::from_utf8(line.clone()).unwrap();
            let body = format!("{}}}", &text[..text.rfind(",\"seq\":").unwrap()]);
            seal_into(&mut head, body.as_bytes(), &mut out);
        }
        assert_fails(verify_one(out), "audit.log", 5, BAD_SIGNATURE);
    }

    #[test]
    fn another_public_key_is_reported_by_key_id() {
        let result = verify(&[("audit.log", standard())], &public(2), false);
        let expected = format!(
            "checkpoint was signed by another key (key_id {}; the given public key is {})",
            chain::key_id(&public(1)),
            chain::key_id(&public(2))
        );
        assert_fails(result, "audit.log", 1, &expected);
    }

    #[test]
    fn rotated_files_verify_as_one_chain() {
        let mut head = Head::GENESIS;
        let first = file(&mut head, 6, 3);
        let second = file(&mut head, 4, 10);
        let report = verify(&[("audit.log.1", first), ("audit.log", second)], &public(1), false).unwrap();
        assert_eq!((report.entries, report.checkpoints, report.files), (10, 5, 2));
        assert_eq!((report.first_seq, report.last_seq, report.last_signed_seq), (1, 15, 15));
        assert!(report.warnings.is_empty());
    }

    #[test]
    fn a_missing_file_in_the_middle_is_a_gap_between_files() {
        let mut head = Head::GENESIS;
        let a = file(&mut head, 6, 3);
        let _b = file(&mut head, 4, 10);
        let c = file(&mut head, 2, 10);
        let result = verify(&[("a", a.clone()), ("c", c.clone())], &public(1), false);
        assert_fails(
            result,
            "c",
            1,
            "gap between files: this file starts at seq 16 but the previous file (a) ends at seq 9",
        );
        // Files given newest first.
        let result = verify(&[("c", c), ("a", a)], &public(1), false);
        assert_fails(
            result,
            "a",
            1,
            "gap between files: this file starts at seq 1 but the previous file (c) ends at seq 19",
        );
    }

    #[test]
    fn an_unclosed_file_before_the_last_is_a_truncated_tail() {
        let mut head = Head::GENESIS;
        let mut first = lines(&file(&mut head, 6, 3));
        first.pop();
        let second = file(&mut head, 2, 10);
        let result = verify(&[("audit.log.1", join(&first)), ("audit.log", second)], &public(1), true);
        assert_fails(result, "audit.log.1", 8, NO_CLOSE);
    }

    #[test]
    fn an_edited_closing_checkpoint_is_found_across_files() {
        let mut head = Head::GENESIS;
        let first = file(&mut head, 2, 10);
        let second = file(&mut head, 2, 10);
        // Whitespace inside the close line: its signature still holds, but its hash changed.
        let first = edit(&first, 4, r#""type":"checkpoint""#, r#""type": "checkpoint""#);
        let result = verify(&[("audit.log.1", first), ("audit.log", second)], &public(1), false);
        assert_fails(result, "audit.log.1", 4, MODIFIED);
    }

    #[test]
    fn lines_that_are_not_json_or_not_utf8_are_damaged() {
        let mut ls = lines(&standard());
        let at = ls[2].len() - 90;
        ls[2][at] = 0xff;
        assert_fails(verify_one(join(&ls)), "audit.log", 3, DAMAGED);
        let mut ls = lines(&standard());
        ls[5] = b"hello".to_vec();
        assert_fails(verify_one(join(&ls)), "audit.log", 6, DAMAGED);
        let data = edit(&standard(), 4, r#""seq":4"#, r#""seq":"4""#);
        assert_fails(verify_one(data), "audit.log", 4, DAMAGED);
        let mut ls = lines(&standard());
        ls.insert(3, Vec::new());
        assert_fails(verify_one(join(&ls)), "audit.log", 4, DAMAGED);
        let data = edit(&standard(), 5, r#""signature":""#, r#""signature":"!"#);
        assert_fails(verify_one(data), "audit.log", 5, "line is not a valid checkpoint: its signature");
    }

    #[test]
    fn alert_lines_chain_and_verify_like_any_entry() {
        let key = signer(1);
        let h = crate::core::audit::hash::Hasher::new(&crate::crypto::Key::from_slice(&[5; 32]).unwrap(), true, false);
        let time = chrono::DateTime::parse_from_rfc3339(TIME).unwrap().with_timezone(&chrono::Utc);
        let alert = serde_json::json!({"id": 1, "kind": "sealed", "rule": "r", "node": "n"});
        let mut head = Head::GENESIS;
        let mut data = Vec::new();
        checkpoint_into(&mut head, "file", Reason::Open, &key, TIME, &mut data);
        seal_into(&mut head, &crate::core::audit::entry::alert(&time, &alert, &h), &mut data);
        seal_into(&mut head, entry_body(1).as_bytes(), &mut data);
        checkpoint_into(&mut head, "file", Reason::Close, &key, TIME, &mut data);
        let report = verify_one(data.clone()).unwrap();
        assert_eq!((report.entries, report.checkpoints), (2, 2));
        let edited = edit(&data, 2, r#""kind":"sealed""#, r#""kind":"other""#);
        assert_fails(verify_one(edited), "audit.log", 2, MODIFIED);
    }

    #[test]
    fn an_empty_file_is_reported() {
        assert_fails(verify_one(Vec::new()), "audit.log", 1, EMPTY);
    }

    #[test]
    fn the_genesis_line_must_link_to_zeros() {
        let data = edit(
            &standard(),
            1,
            &format!("\"prev_hash\":\"{}", "0".repeat(64)),
            &format!("\"prev_hash\":\"1{}", "0".repeat(63)),
        );
        assert_fails(verify_one(data), "audit.log", 1, BAD_ANCHOR);
    }

    #[test]
    fn a_chain_starting_later_verifies_with_a_warning() {
        let mut head = Head { seq: 100, hash: [3; 32] };
        let report = verify_one(file(&mut head, 2, 10)).unwrap();
        assert_eq!((report.first_seq, report.last_seq), (101, 104));
        assert_eq!(report.warnings.len(), 1);
        assert!(report.warnings[0].contains("starts at seq 101"));
    }

    #[test]
    fn a_restart_in_the_same_file_verifies_but_lines_after_a_close_need_an_open() {
        let key = signer(1);
        let mut head = Head::GENESIS;
        let mut data = file(&mut head, 2, 10);
        // Restart after a crash (no close) and after a clean close, both appending to the file.
        checkpoint_into(&mut head, "file", Reason::Open, &key, TIME, &mut data);
        seal_into(&mut head, entry_body(3).as_bytes(), &mut data);
        checkpoint_into(&mut head, "file", Reason::Open, &key, TIME, &mut data);
        seal_into(&mut head, entry_body(4).as_bytes(), &mut data);
        checkpoint_into(&mut head, "file", Reason::Close, &key, TIME, &mut data);
        let report = verify_one(data.clone()).unwrap();
        assert_eq!((report.entries, report.checkpoints, report.last_seq), (4, 5, 9));
        // An entry appended after the close, without an opening checkpoint.
        seal_into(&mut head, entry_body(5).as_bytes(), &mut data);
        let result = verify(&[("audit.log", data)], &public(1), true);
        assert_fails(result, "audit.log", 10, "a closing checkpoint (line 9) is followed by a line other than");
    }

    #[test]
    fn checkpoints_of_another_device_give_a_warning() {
        let key = signer(1);
        let mut head = Head::GENESIS;
        let mut data = Vec::new();
        checkpoint_into(&mut head, "file", Reason::Open, &key, TIME, &mut data);
        seal_into(&mut head, entry_body(1).as_bytes(), &mut data);
        checkpoint_into(&mut head, "other", Reason::Close, &key, TIME, &mut data);
        let report = verify_one(data).unwrap();
        assert_eq!(report.warnings.len(), 1);
        assert!(report.warnings[0].contains("more than one device"), "{:?}", report.warnings);
    }

    #[test]
    fn run_reads_the_key_as_text_or_file_and_returns_exit_codes() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        std::fs::write(&log, standard()).unwrap();
        let pem = dir.path().join("audit.pub");
        std::fs::write(&pem, chain::public_key_pem(&public(1))).unwrap();
        let paths = vec![log.clone()];
        assert_eq!(run(&paths, &chain::public_key_base64(&public(1)), false), 0);
        assert_eq!(run(&paths, pem.to_str().unwrap(), false), 0);
        assert_eq!(run(&paths, &chain::public_key_base64(&public(2)), false), 1);
        assert_eq!(run(&[dir.path().join("missing.log")], pem.to_str().unwrap(), false), 1);
        assert_eq!(run(&paths, "not a key", false), 2);
        assert_eq!(run(&[], pem.to_str().unwrap(), false), 2);
        let failure = verify_files(&[dir.path().join("missing.log")], &public(1), &Options::default()).unwrap_err();
        assert_eq!(failure.line, 0);
    }
}
