//! `coffer operator bootstrap plan FILE`: one line per change, exit code 0 with nothing to do,
//! 2 with changes, 1 when the file or the server refuses; nothing is applied.

use predicates::prelude::*;

use crate::harness::DevServer;

#[test]
fn plan_prints_one_line_per_change_and_its_exit_code_says_whether_there_are_any() {
    let s = DevServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("coffer.bootstrap.toml");

    std::fs::write(&file, "# nothing declared\n").unwrap();
    s.cmd()
        .args(["operator", "bootstrap", "plan"])
        .arg(&file)
        .assert()
        .code(0)
        .stdout("No changes: the server matches the file.\n");

    std::fs::write(
        &file,
        "[policies.app]\npolicy = 'path \"secret/data/app\" { capabilities = [\"read\"] }'\n\
         [auth.approle]\ntype = \"approle\"\n[approle_roles.approle.web]\ntoken_policies = [\"app\"]\n",
    )
    .unwrap();
    s.cmd()
        .args(["operator", "bootstrap", "plan"])
        .arg(&file)
        .assert()
        .code(2)
        .stdout("create policy app\ncreate auth method approle/\ncreate approle role approle/web\n");
    // Nothing was applied.
    s.cmd().args(["policy", "read", "app"]).assert().code(1);

    // An object of the same name made through the API: adopted only when the file says so.
    s.ok_stdin(&["policy", "write", "app", "-"], "path \"secret/data/app\" { capabilities = [\"read\"] }");
    s.cmd().args(["operator", "bootstrap", "plan"]).arg(&file).assert().code(1).stderr(
        predicate::str::contains("policies.app: a policy named \"app\" exists")
            .and(predicate::str::contains("adopt = true")),
    );
    std::fs::write(
        &file,
        "[policies.app]\nadopt = true\npolicy = 'path \"secret/data/app\" { capabilities = [\"read\"] }'\n",
    )
    .unwrap();
    s.cmd().args(["operator", "bootstrap", "plan"]).arg(&file).assert().code(2).stdout("adopt policy app\n");
    let out = s.cmd().args(["operator", "bootstrap", "plan", "--format", "json"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["changes"][0]["action"], "adopt", "{json}");

    // A problem in the file names the table and the field.
    std::fs::write(&file, "[policies.app]\npolicy = 'path \"a\" { capabilities = [\"reed\"] }'\n").unwrap();
    s.cmd()
        .args(["operator", "bootstrap", "plan"])
        .arg(&file)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("policies.app.policy: failed to parse policy"));
    // A token without sudo on sys/bootstrap is refused.
    s.ok_stdin(&["policy", "write", "plain", "-"], "path \"sys/*\" { capabilities = [\"read\", \"update\"] }");
    let t = s.token_with("plain");
    s.cmd_as(&t)
        .args(["operator", "bootstrap", "plan"])
        .arg(&file)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("permission denied (403) on sys/bootstrap/plan"));
    s.cmd()
        .args(["operator", "bootstrap", "plan", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:"));
}
