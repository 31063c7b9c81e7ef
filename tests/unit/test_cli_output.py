"""What the headless commands print for check results."""

from __future__ import annotations

from wizard.checks.base import CheckResult
from wizard.cli import print_results


def test_evidence_is_printed_under_a_result_that_is_not_ok(capsys):
    registrar = "At your registrar:\n  NS ns1.example.net.\n  glue ns1.example.net. 192.0.2.1"
    print_results(
        [
            CheckResult("dns.serial", "ok", "serial 5 served", "zone file: 5"),
            CheckResult("dns.registrar", "warn", "parent unreadable", registrar, "enter these"),
            CheckResult("x.long", "fail", "long", "\n".join(f"line {i}" for i in range(20))),
        ]
    )
    out = capsys.readouterr().out
    assert "zone file: 5" not in out
    assert "      |   glue ns1.example.net. 192.0.2.1" in out
    assert "      → enter these" in out
    assert "line 11" in out and "line 12" not in out and "8 more line(s)" in out
