"""`sys/metrics?format=prometheus` read by the real Prometheus tooling: the `prometheus_client`
text parser, and `promtool check metrics` (Debian's `prometheus` package), after known traffic.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("COMPAT_SERVER", "coffer") != "coffer",
                                reason="Coffer's own metric families")


def scrape(server) -> str:
    req = urllib.request.Request(f"{server.addr}/v1/sys/metrics?format=prometheus",
                                 headers={"X-Vault-Token": "root"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return resp.read().decode()


def families(text: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families
    return {f.name: f for f in text_string_to_metric_families(text)}


def count(fams: dict, name: str, **labels) -> float:
    fam = fams.get(name)
    assert fam is not None, f"{name} missing"
    return sum(s.value for s in fam.samples
               if s.name == name + ("_count" if fam.type == "histogram" else "")
               and all(s.labels.get(k) == v for k, v in labels.items()))


def test_the_prometheus_parser_reads_every_family_and_the_deltas_match(client, kv_path, server):
    client.secrets.kv.v2.create_or_update_secret(path=kv_path, secret={"k": "v"})
    before = families(scrape(server))
    for _ in range(5):
        client.secrets.kv.v2.read_secret_version(path=kv_path, raise_on_deleted_version=True)
    after = families(scrape(server))

    # The parser drops the `_total` suffix from counter family names.
    for name in ["coffer_request_duration_seconds", "coffer_token_checks", "coffer_policy_denials",
                 "coffer_sealed", "coffer_leader", "coffer_leader_epoch", "coffer_leases", "coffer_rotations",
                 "coffer_audit_failures", "coffer_audit_queue_depth", "coffer_store_duration_seconds",
                 "coffer_cache_hits", "coffer_cache_hit_ratio", "coffer_argon2_queue_depth"]:
        assert name in after, f"{name} missing: {sorted(after)}"
    assert after["coffer_request_duration_seconds"].type == "histogram"
    assert after["coffer_token_checks"].type == "counter"
    assert after["coffer_sealed"].type == "gauge"
    reads = lambda f: count(f, "coffer_request_duration_seconds", method="GET", mount_type="kv", status="2xx")
    assert reads(after) - reads(before) == 5
    for fam in after.values():
        for s in fam.samples:
            for v in s.labels.values():
                assert kv_path not in v and v != "root", (s.name, s.labels)


def test_promtool_accepts_the_exposition(server):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    out = subprocess.run([promtool, "check", "metrics"], input=scrape(server), capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == "" and out.stderr.strip() == "", out.stdout + out.stderr
