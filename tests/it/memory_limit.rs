//! FLT-18: the real binary in a memory cgroup of 256 MiB (cgroup v1, writable as root here) under a
//! hostile mix within the configured limits: it is never OOM-killed and keeps serving.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::restart::{call, init, spawn_wrapped, write_config};

const LIMIT: u64 = 256 << 20;

/// A memory cgroup made for one test; removed on drop (once its processes are gone).
struct Cgroup(PathBuf);

impl Cgroup {
    fn new() -> Self {
        let root = Path::new("/sys/fs/cgroup/memory");
        let dir = root.join(format!("coffer-flt18-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir).unwrap_or_else(|e| {
            panic!("a writable memory cgroup (v1, as root) is required at {}: {e}", root.display())
        });
        std::fs::write(dir.join("memory.limit_in_bytes"), LIMIT.to_string()).unwrap();
        Self(dir)
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.0.join(file)).unwrap()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flt18_a_hostile_mix_in_a_256_mib_cgroup_causes_no_oom_kill() {
    let cg = Cgroup::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text = text.replace("tls_disable = true\n", "tls_disable = true\nmax_request_size = 1048576\n");
    std::fs::write(&cfg, text).unwrap();
    let procs = cg.0.join("cgroup.procs").display().to_string();
    // The shell joins the cgroup, then execs the server (so the server and its threads are in it).
    let wrapper = ["sh", "-c", "echo $$ > \"$0\" && exec \"$@\"", procs.as_str()];
    let mut p = spawn_wrapped(&wrapper, &cfg, "info", &[]);
    let token = init(&p.base).await;

    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let oversize = "x".repeat(8 << 20);
    let strings = serde_json::to_string(&vec!["ab"; 200_000]).unwrap(); // ~1 MiB of short strings
    let mut tasks = Vec::new();
    for round in 0..4 {
        for i in 0..16 {
            let (c, base, token) = (client.clone(), p.base.clone(), token.clone());
            let (oversize, strings) = (oversize.clone(), strings.clone());
            tasks.push(tokio::spawn(async move {
                // Unauthenticated: an oversize body, a body of many short strings, a login body.
                let body = match i % 3 {
                    0 => oversize,
                    1 => format!("{{\"data\":{strings}}}"),
                    _ => format!("{{\"password\":{strings}}}"),
                };
                let path = if i % 3 == 2 { "auth/userpass/login/nobody" } else { "secret/data/x" };
                let r = c.post(format!("{base}/v1/{path}")).body(body).send().await;
                let code = r.map(|r| r.status().as_u16()).unwrap_or(0);
                // Authenticated writes keep working alongside.
                let (s, v) =
                    call(&base, &token, "POST", &format!("secret/data/ok{round}-{i}"), Some(json!({"data": {"i": i}})))
                        .await;
                assert_eq!(s, StatusCode::OK, "{v}");
                code
            }));
        }
    }
    for t in tasks {
        let code = t.await.unwrap();
        assert!(code == 0 || (400..600).contains(&code), "a hostile request got {code}");
    }
    assert!(p.child.try_wait().unwrap().is_none(), "the server died");
    let (s, v) = call(&p.base, &token, "GET", "secret/data/ok3-15", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let oom = cg.read("memory.oom_control");
    assert!(oom.lines().any(|l| l == "oom_kill 0"), "OOM kills in the cgroup: {oom}");
    let peak: u64 = cg.read("memory.max_usage_in_bytes").trim().parse().unwrap();
    assert!(peak < LIMIT, "memory reached the limit: {peak}");
    eprintln!("peak {} MiB", peak >> 20);
    p.child.kill().unwrap();
    p.child.wait().unwrap();
}
