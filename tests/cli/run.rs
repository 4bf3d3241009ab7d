//! `coffer run`: environment injection, exit codes, signal forwarding, restart and signal on
//! change with --watch, templates, and the encrypted fallback cache while the server is down.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use predicates::prelude::*;
use rustix::process::{kill_process, Pid, Signal};

use crate::harness::{mode, wait_for, DevServer};

const DEADLINE: Duration = Duration::from_secs(30);

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Waits (bounded) for a child to exit and returns its exit code.
fn wait_exit(child: &mut Child) -> i32 {
    let status = wait_for("coffer run to exit", DEADLINE, || child.try_wait().unwrap());
    status.code().unwrap_or(-1)
}

fn signal(child: &Child, sig: Signal) {
    kill_process(Pid::from_child(child), sig).unwrap();
}

#[test]
fn injects_env_and_passes_the_exit_code_through() {
    let s = DevServer::start();
    let pass = s.home.path().join("pass");
    std::fs::write(&pass, "p4ss w0rd").unwrap();
    s.cmd().args(["kv", "put", "secret/app", "api-key=-"]).write_stdin("k3y").assert().success();
    s.cmd()
        .args(["kv", "put", "secret/db"])
        .arg(format!("password=@{}", pass.display()))
        .arg("port=-")
        .write_stdin("5432")
        .assert()
        .success();
    let out = s.home.path().join("env.out");
    s.cmd()
        .args([
            "run",
            "--secret",
            "secret/app",
            "--secret",
            "secret/db:DB_",
            "--env",
            "PGPASSWORD=secret/db#password",
            "--",
        ])
        .args([
            "sh",
            "-c",
            "printf '%s|%s|%s|%s' \"$API_KEY\" \"$DB_PASSWORD\" \"$DB_PORT\" \"$PGPASSWORD\" > \"$0\"; exit 7",
        ])
        .arg(&out)
        .assert()
        .code(7);
    assert_eq!(read(&out), "k3y|p4ss w0rd|5432|p4ss w0rd");
    // The inherited environment is kept.
    s.cmd()
        .env("KEEP_ME", "yes")
        .args(["run", "--secret", "secret/app", "--", "sh", "-c", "test \"$KEEP_ME\" = yes"])
        .assert()
        .success();
    // Killed by a signal: 128 + its number.
    s.cmd().args(["run", "--secret", "secret/app", "--", "sh", "-c", "kill -KILL $$"]).assert().code(137);
    // A command that does not exist: 127, as in a shell.
    s.cmd()
        .args(["run", "--secret", "secret/app", "--", "/nonexistent/cmd"])
        .assert()
        .code(127)
        .stderr(predicate::str::contains("command not found"));
    // A secret that cannot be read: exit 1 before anything starts.
    s.cmd()
        .args(["run", "--secret", "secret/none", "--", "sh", "-c", "exit 0"])
        .assert()
        .code(1)
        .stderr("Error: no secret at secret/none (404 on secret/data/none)\n");
    s.cmd()
        .args(["run", "--env", "X=secret/app#missing", "--", "true"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("has no field \"missing\""));
    // Two secrets that would set the same variable.
    s.cmd()
        .args(["run", "--secret", "secret/db", "--secret", "secret/db:", "--", "true"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("would be set from both"));
}

#[test]
fn sigterm_and_other_signals_are_forwarded() {
    let s = DevServer::start();
    s.ok(&["kv", "put", "secret/app", "a=@/dev/null"]);
    let dir = s.home.path();
    let (ready, got) = (dir.join("ready"), dir.join("got"));
    let script = "trap 'echo HUP >> \"$1\"' HUP; trap 'echo TERM >> \"$1\"; exit 42' TERM; echo up > \"$0\"; \
                  while :; do sleep 0.05; done";
    let mut child = s
        .std_cmd()
        .args(["run", "--secret", "secret/app", "--", "sh", "-c", script])
        .arg(&ready)
        .arg(&got)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the command to start", DEADLINE, || ready.exists().then_some(()));
    signal(&child, Signal::HUP);
    wait_for("SIGHUP to reach the command", DEADLINE, || read(&got).contains("HUP").then_some(()));
    signal(&child, Signal::TERM);
    assert_eq!(wait_exit(&mut child), 42);
    assert_eq!(read(&got), "HUP\nTERM\n");
}

#[test]
fn watch_restarts_on_change_and_rerenders_templates() {
    let s = DevServer::start();
    s.cmd().args(["kv", "put", "secret/app", "token=-"]).write_stdin("one").assert().success();
    let dir = s.home.path();
    let (log, tmpl, rendered) = (dir.join("log"), dir.join("app.tmpl"), dir.join("app.conf"));
    std::fs::write(&tmpl, "token = \"{{ secret \"secret/app\" \"token\" }}\"\nother = {{ .Helm }}\n").unwrap();
    let script =
        "echo \"start $TOKEN $(cat \"$1\" | head -1)\" >> \"$0\"; trap 'exit 0' TERM; while :; do sleep 0.05; done";
    let mut child = s
        .std_cmd()
        .args(["run", "--secret", "secret/app", "--watch", "--watch-interval", "100ms"])
        .arg("--template")
        .arg(format!("{}:{}", tmpl.display(), rendered.display()))
        .args(["--", "sh", "-c", script])
        .arg(&log)
        .arg(&rendered)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the first start", DEADLINE, || read(&log).contains("start one").then_some(()));
    assert_eq!(read(&rendered), "token = \"one\"\nother = {{ .Helm }}\n");
    assert_eq!(mode(&rendered), 0o600);
    s.cmd().args(["kv", "put", "secret/app", "token=-"]).write_stdin("two").assert().success();
    wait_for("a restart with the new value", DEADLINE, || {
        read(&log).contains("start two token = \"two\"").then_some(())
    });
    assert_eq!(read(&log), "start one token = \"one\"\nstart two token = \"two\"\n");
    assert_eq!(read(&rendered), "token = \"two\"\nother = {{ .Helm }}\n");
    assert_eq!(mode(&rendered), 0o600);
    signal(&child, Signal::TERM);
    assert_eq!(wait_exit(&mut child), 0);
}

#[test]
fn watch_signal_is_sent_instead_of_a_restart() {
    let s = DevServer::start();
    s.cmd().args(["kv", "put", "secret/tls", "cert=-"]).write_stdin("c1").assert().success();
    let dir = s.home.path();
    let (log, out) = (dir.join("log"), dir.join("cert.pem"));
    let tmpl = dir.join("cert.tmpl");
    std::fs::write(&tmpl, "{{ secret \"secret/tls\" \"cert\" }}").unwrap();
    let script = "echo start >> \"$0\"; trap 'echo \"reload $(cat \"$1\")\" >> \"$0\"' USR1; trap 'exit 5' TERM; \
                  while :; do sleep 0.05; done";
    let mut child = s
        .std_cmd()
        .args(["run", "--watch", "--watch-signal", "SIGUSR1", "--watch-interval", "100ms"])
        .arg("--template")
        .arg(format!("{}:{}", tmpl.display(), out.display()))
        .args(["--", "sh", "-c", script])
        .arg(&log)
        .arg(&out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the first start", DEADLINE, || read(&log).contains("start").then_some(()));
    s.cmd().args(["kv", "put", "secret/tls", "cert=-"]).write_stdin("c2").assert().success();
    wait_for("the reload signal", DEADLINE, || read(&log).contains("reload c2").then_some(()));
    assert_eq!(read(&log), "start\nreload c2\n", "signalled, not restarted");
    signal(&child, Signal::TERM);
    assert_eq!(wait_exit(&mut child), 5);
}

#[test]
fn the_encrypted_cache_covers_an_outage() {
    let mut s = DevServer::start();
    s.cmd().args(["kv", "put", "secret/ci", "deploy_key=-"]).write_stdin("d3pl0y-k3y").assert().success();
    let cache = s.home.path().join("cache");
    let out = s.home.path().join("out");
    let run = |s: &DevServer, max_age: &str| {
        let mut c = s.cmd();
        c.args(["run", "--secret", "secret/ci", "--cache-dir"])
            .arg(&cache)
            .args(["--fallback-max-age", max_age, "--", "sh", "-c", "printf %s \"$DEPLOY_KEY\" > \"$0\""])
            .arg(&out);
        c
    };
    run(&s, "10m").assert().success().stderr("");
    assert_eq!(read(&out), "d3pl0y-k3y");
    assert_eq!(mode(&cache), 0o700);
    for e in std::fs::read_dir(&cache).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
        let bytes = std::fs::read(&p).unwrap();
        assert!(!bytes.windows(10).any(|w| w == b"d3pl0y-k3y"), "{} holds the value in clear", p.display());
    }
    std::fs::remove_file(&out).unwrap();
    s.stop();
    // The server is down: the cached copy is used, with a warning.
    run(&s, "10m").assert().success().stderr(
        predicate::str::contains("Warning: cannot reach")
            .and(predicate::str::contains("using the cached copy of secret/ci")),
    );
    assert_eq!(read(&out), "d3pl0y-k3y");
    // Too old for --fallback-max-age: an error.
    run(&s, "0s").assert().code(1).stderr(predicate::str::contains("not younger than --fallback-max-age"));
    // Another token cannot decrypt it.
    let mut other = run(&s, "10m");
    other.env("COFFER_TOKEN", "s.another-token");
    other.assert().code(1).stderr(predicate::str::contains("cannot be decrypted"));
    // Without a cache, an outage is an error.
    s.cmd()
        .args(["run", "--secret", "secret/ci", "--", "true"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("Error: cannot reach http://127.0.0.1:"));
}

#[test]
fn the_token_is_not_passed_on_unless_keep_token() {
    let s = DevServer::start();
    s.ok(&["kv", "put", "secret/app", "a=@/dev/null"]);
    s.cmd()
        .env("VAULT_TOKEN", "root")
        .args(["run", "--secret", "secret/app", "--", "sh", "-c"])
        .arg("test -z \"${COFFER_TOKEN+x}\" && test -z \"${VAULT_TOKEN+x}\"")
        .assert()
        .success();
    s.cmd()
        .env("VAULT_TOKEN", "root")
        .args(["run", "--keep-token", "--secret", "secret/app", "--", "sh", "-c"])
        .arg("test \"$COFFER_TOKEN\" = root && test \"$VAULT_TOKEN\" = root")
        .assert()
        .success();
}

#[test]
fn loader_and_interpreter_variables_are_set_only_when_named() {
    let s = DevServer::start();
    s.ok_stdin(&["kv", "put", "secret/evil", "pythonpath=-"], "/tmp/evil");
    for spec in ["secret/evil", "secret/evil:LD_"] {
        s.cmd()
            .args(["run", "--secret", spec, "--", "sh", "-c", "exit 0"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("changes how programs load or run"));
    }
    s.cmd()
        .args(["run", "--secret", "secret/evil", "--env", "PYTHONPATH=secret/evil#pythonpath", "--", "sh", "-c"])
        .arg("test \"$PYTHONPATH\" = /tmp/evil")
        .assert()
        .success();
}
