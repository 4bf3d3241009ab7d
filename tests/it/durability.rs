//! FLT-02: acknowledged writes survive a power loss, not just a process crash. LazyFS is not
//! available here, so the real binary runs under `strace`, and the trace shows that every 2xx
//! answer is written only after the SQLite WAL bytes before it were fsynced. A control run with
//! `synchronous=NORMAL` (a test-only hook) shows that the check catches commits that are not.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::json;

use crate::restart::{call, init, spawn_wrapped, write_config};
use coffer::store::sqlite::SYNCHRONOUS_ENV;

const WRITES: usize = 20;

/// What the trace shows: 2xx answers written, and how many of them went out while WAL bytes
/// written before them were not yet fsynced.
#[derive(Debug)]
struct Verdict {
    acks: usize,
    unsynced_acks: usize,
}

/// Reads an `strace -f -y` trace in order. A write to `…-wal` dirties the WAL; a completed
/// `fsync`/`fdatasync` of it (possibly split into `<unfinished …>` and `<… resumed>` lines)
/// cleans it; an `HTTP/1.1 2xx` written to a socket while it is dirty is an unsynced ack.
fn judge(trace: &str) -> Verdict {
    let mut dirty = false;
    let mut syncing: HashSet<&str> = HashSet::new();
    let (mut acks, mut unsynced_acks) = (0, 0);
    for line in trace.lines() {
        let (pid, call) = line.split_once(' ').unwrap_or(("", line));
        let call = call.trim_start();
        let ok = call.trim_end().ends_with("= 0");
        let is_sync = call.starts_with("fsync(") || call.starts_with("fdatasync(");
        if is_sync && call.contains("-wal>") {
            if call.contains("<unfinished") {
                syncing.insert(pid);
            } else if ok {
                dirty = false;
            }
        } else if call.starts_with("<... fsync resumed>") || call.starts_with("<... fdatasync resumed>") {
            if syncing.remove(pid) && ok {
                dirty = false;
            }
        } else if call.contains("-wal>")
            && ["write(", "pwrite64(", "writev(", "pwritev("].iter().any(|c| call.starts_with(c))
        {
            dirty = true;
        } else if (call.contains("socket:[") || call.contains("TCP:[")) && call.contains("HTTP/1.1 2") {
            acks += 1;
            if dirty {
                unsynced_acks += 1;
            }
        }
    }
    Verdict { acks, unsynced_acks }
}

/// Runs the server under strace, makes [`WRITES`] acknowledged KV writes one after another,
/// checks they read back, and judges the trace.
async fn traced_writes(normal: bool) -> Verdict {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    // A long leader lease: no background lease renewal writes interleave with the requests.
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("[ha]\nlease_ttl = \"1h\"\n");
    std::fs::write(&cfg, text).unwrap();
    let trace = dir.path().join("trace");
    let out = trace.display().to_string();
    let wrapper = [
        "strace",
        "-f",
        "-qq",
        "-y",
        "-s",
        "48",
        "-o",
        &out,
        "-e",
        "trace=write,pwrite64,writev,pwritev,sendto,sendmsg,fsync,fdatasync",
        "--",
    ];
    let env: &[(&str, &str)] = if normal { &[(SYNCHRONOUS_ENV, "normal")] } else { &[] };
    let mut p = spawn_wrapped(&wrapper, &cfg, "info", env);
    let token = init(&p.base).await;
    for i in 0..WRITES {
        let (s, v) = call(&p.base, &token, "POST", &format!("secret/data/k{i}"), Some(json!({"data": {"i": i}}))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    for i in 0..WRITES {
        let (s, v) = call(&p.base, &token, "GET", &format!("secret/data/k{i}"), None).await;
        assert_eq!((s, &v["data"]["data"]["i"]), (StatusCode::OK, &json!(i)), "{v}");
    }
    // Kill the server itself (killing strace would only detach it), then strace ends.
    let strace = p.child.id();
    let children = std::fs::read_to_string(format!("/proc/{strace}/task/{strace}/children")).unwrap();
    for pid in children.split_whitespace() {
        let pid = rustix::process::Pid::from_raw(pid.parse().unwrap()).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    }
    p.child.wait().unwrap();
    judge(&std::fs::read_to_string(&trace).unwrap())
}

fn strace_available() {
    let ok = std::process::Command::new("strace").arg("-V").output().is_ok_and(|o| o.status.success());
    assert!(ok, "strace is required (apt-get install strace; .ci/run installs it)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flt02_every_acknowledged_write_is_fsynced_before_its_answer_and_normal_sync_is_caught() {
    strace_available();
    let full = traced_writes(false).await;
    assert!(full.acks >= WRITES, "the trace shows too few answers: {full:?}");
    assert_eq!(full.unsynced_acks, 0, "an answer went out before its WAL bytes were fsynced: {full:?}");
    // Control: with synchronous=NORMAL the same check sees unsynced acknowledgements.
    let normal = traced_writes(true).await;
    assert!(normal.acks >= WRITES, "{normal:?}");
    assert!(normal.unsynced_acks >= WRITES / 2, "the check does not catch commits that are not fsynced: {normal:?}");
}
