"""The waf step's judges against audit log records of nginx's and Apache's ModSecurity (taken
from Debian 12 test hosts, shortened), its audit log script, its templates as rendered from the
answers, and the form POST of the HTTP helper against a loopback server."""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest

from wizard.answers import check_refusals, validate_answers
from wizard.catalog import load_catalog
from wizard.checks import waf
from wizard.checks.base import CheckResult
from wizard.errors import WizardError
from wizard.probes.http import HttpAnswer, http_get
from wizard.render import render_template
from wizard.stepcontext import default_answers

HOST = "example.net"
TOKEN = "8982a968b91b1610"

NGINX_DENIED = f"""---MueCe8CR---A--
[07/Dec/2026:03:35:07 +0000] 179661450779.022311 10.254.203.1 47082 10.254.203.2 80
---MueCe8CR---B--
GET /?file=../../../../etc/passwd&vwcheck={TOKEN} HTTP/1.1
Host: example.net
---MueCe8CR---H--
ModSecurity: Warning. Matched "Operator `Rx' with parameter `(?:^|[\\\\/])' against variable `ARGS:file' [file "/usr/share/modsecurity-crs/rules/REQUEST-930-APPLICATION-ATTACK-LFI.conf"] [line "53"] [id "930110"] [rev ""] [msg "Path Traversal Attack (/../)"] [data "Matched Data: ../"] [severity "2"] [unique_id "179661450779.022311"]
ModSecurity: Warning. Matched "Operator `PmFromFile' with parameter `lfi-os-files.data' against variable `ARGS:file' [id "930120"] [rev ""] [msg "OS File Access Attempt"] [data ""]
ModSecurity: Access denied with code 403 (phase 2). Matched "Operator `Ge' with parameter `5' against variable `TX:ANOMALY_SCORE' (Value: `30' ) [id "949110"] [rev ""] [msg "Inbound Anomaly Score Exceeded (Total Score: 30)"] [data ""]

---MueCe8CR---Z--
"""  # noqa: E501

NGINX_DETECTED = NGINX_DENIED.replace("Access denied with code 403 (phase 2)", "Warning")

APACHE_DENIED = f"""--10690e0c-A--
[07/Dec/2026:03:37:09.594192 +0000] axYp5RHGcpLZlkq6FmdVCQAAAAA 10.254.204.1 49112 10.254.204.2 80
--10690e0c-B--
GET /?id=1%27%20OR%20%271%27%3D%271&vwcheck={TOKEN} HTTP/1.1
--10690e0c-H--
Message: Warning. detected SQLi using libinjection. [file "/usr/share/modsecurity-crs/rules/REQUEST-942-APPLICATION-ATTACK-SQLI.conf"] [line "65"] [id "942100"] [msg "SQL Injection Attack Detected via libinjection"] [data "Matched Data: s&sos"]
Message: Access denied with code 403 (phase 2). Operator GE matched 5 at TX:anomaly_score. [id "949110"] [msg "Inbound Anomaly Score Exceeded (Total Score: 5)"] [severity "CRITICAL"]
Apache-Error: [file "apache2_util.c"] [line 275] [level 3] [client 10.254.204.1] ModSecurity: Warning. detected SQLi using libinjection. [id "942100"] [msg "SQL Injection Attack Detected via libinjection"] [unique_id "axYp5RHGcpLZlkq6FmdVCQAAAAA"]
--10690e0c-Z--
"""  # noqa: E501


def answer(path: str, status: int = 200, body: bytes = b"", method: str = "GET") -> HttpAnswer:
    """An HttpAnswer as http_get builds it."""
    return HttpAnswer(f"{method} http://{HOST}{path} at 10.254.203.2:80", status, {}, body)


def sqli(status: int) -> HttpAnswer:
    return answer(waf.attack_path(waf.SQL_INJECTION, TOKEN), status)


def traversal(status: int) -> HttpAnswer:
    return answer(waf.attack_path(waf.PATH_TRAVERSAL, TOKEN), status)


def assert_fails(result: CheckResult, *words: str) -> None:
    """A fail that shows what was seen and says what to do, mentioning each of words."""
    assert result.status == "fail", result
    assert result.hint.strip() and result.evidence.strip(), result
    text = f"{result.summary}\n{result.evidence}\n{result.hint}"
    for word in words:
        assert word in text, (word, text)


# ----------------------------------------------------------------------------- audit records


def test_a_record_of_nginx_names_its_rules_its_id_and_the_denial():
    record = waf.AuditRecord(NGINX_DENIED)
    assert record.found and record.denied and record.over_threshold
    assert record.rules == ("930110", "930120", "949110")
    assert record.unique_id == "179661450779.022311"
    assert record.messages()[0] == "rule 930110: Path Traversal Attack (/../)"


def test_a_record_of_apache_reads_the_same_once_per_rule():
    record = waf.AuditRecord(APACHE_DENIED)
    assert record.denied and record.over_threshold
    assert record.rules == ("942100", "949110")
    assert record.unique_id == "axYp5RHGcpLZlkq6FmdVCQAAAAA"
    assert len(record.messages()) == 2


def test_detection_only_is_over_the_threshold_but_not_denied():
    record = waf.AuditRecord(NGINX_DETECTED)
    assert record.over_threshold and not record.denied
    assert not waf.AuditRecord("\n").found


def test_the_audit_script_is_valid_shell_with_each_marker_one_word():
    text = waf.audit_script(["abc123", "def456"])
    assert "wait_all abc123 def456" in text
    assert "records abc123" in text and "records def456" in text
    assert "/var/log/modsecurity/audit.log" in text
    run = subprocess.run(["sh", "-n", "-c", text], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


def test_the_audit_script_finds_the_records_of_its_marker_only(tmp_path):
    # The same awk the script runs, on a log of three records, only one of them ours.
    log = tmp_path / "audit.log"
    other = NGINX_DENIED.replace(TOKEN, "0000000000000000").replace("MueCe8CR", "Aaaaaaaa")
    log.write_text(other + APACHE_DENIED + other)
    text = waf.audit_script([TOKEN]).replace("/var/log/modsecurity/audit.log", str(log))
    run = subprocess.run(["sh", "-c", text], capture_output=True, text=True, check=True)
    found = waf.AuditRecord(run.stdout.split("@@R0", 1)[1])
    assert found.unique_id == "axYp5RHGcpLZlkq6FmdVCQAAAAA"
    assert "0000000000000000" not in found.text


# ----------------------------------------------------------------------------- waf.blocks


def tried(sqli_status: int, traversal_status: int, sqli_log: str, traversal_log: str):
    return [
        (waf.SQL_INJECTION, sqli(sqli_status), waf.AuditRecord(sqli_log)),
        (waf.PATH_TRAVERSAL, traversal(traversal_status), waf.AuditRecord(traversal_log)),
    ]


def test_blocking_is_ok_when_both_attacks_get_403():
    result = waf.judge_blocks("blocking", tried(403, 403, APACHE_DENIED, NGINX_DENIED))
    assert result.status == "ok", result
    assert "HTTP 403" in result.evidence and "rule 942100" in result.evidence


def test_blocking_fails_when_the_engine_only_detects():
    result = waf.judge_blocks("blocking", tried(200, 200, "", NGINX_DETECTED))
    assert_fails(result, "an SQL injection got HTTP 200, not 403", "not in /var/log")
    result = waf.judge_blocks("blocking", tried(403, 200, APACHE_DENIED, NGINX_DETECTED))
    assert_fails(result, "a path traversal got HTTP 200", "DetectionOnly")


def test_blocking_fails_naming_the_exclusion_that_lets_an_attack_through():
    result = waf.judge_blocks("blocking", tried(200, 403, "", NGINX_DENIED), ["942100"])
    assert_fails(result, "an SQL injection got HTTP 200", "removes 942100", "exclusions")


def test_blocking_fails_when_modsecurity_sees_nothing():
    result = waf.judge_blocks("blocking", tried(200, 200, "", ""))
    assert_fails(result, "did not see it", "modsecurity")


def test_detection_only_is_a_warning_that_says_it_would_have_blocked():
    detected_sqli = APACHE_DENIED.replace("Access denied with code 403 (phase 2)", "Warning")
    result = waf.judge_blocks("detection", tried(200, 200, detected_sqli, NGINX_DETECTED))
    assert result.status == "warn", result
    assert "detection only: would have blocked" in result.summary
    assert "audit log" in result.summary and "blocking" in result.hint


def test_detection_only_fails_when_an_attack_is_not_detected_or_is_blocked():
    assert_fails(
        waf.judge_blocks("detection", tried(200, 200, "", NGINX_DETECTED)),
        "an SQL injection was not detected",
    )
    assert_fails(
        waf.judge_blocks("detection", tried(403, 403, APACHE_DENIED, NGINX_DENIED)),
        "got 403 although the step is in detection only",
    )


def test_no_answer_is_the_shared_http_verdict():
    refused = HttpAnswer("GET http://example.net/ at 10.254.203.2:80", error="refused")
    result = waf.judge_blocks("blocking", [(waf.SQL_INJECTION, refused, waf.AuditRecord(""))] * 2)
    assert_fails(result, "got no answer", "nothing listens")


# ----------------------------------------------------------------------------- waf.passes


def test_passes_when_the_page_and_the_form_get_200_and_php_got_the_fields():
    proof = waf.form_proof("t0k", waf.FORM["message"])
    post = answer("/vw-waf-t0k.php", 200, f"proof={proof}\n".encode(), "POST")
    result = waf.judge_passes(answer("/"), post, proof)
    assert result.status == "ok", result
    assert "POST http://example.net/vw-waf-t0k.php" in result.evidence


def test_a_false_positive_fails_with_how_to_find_the_rule():
    proof = waf.form_proof("t0k", waf.FORM["message"])
    post = answer("/vw-waf-t0k.php", 403, b"Forbidden", "POST")
    assert_fails(waf.judge_passes(answer("/"), post, proof), "the form post got 403", "exclusions")
    assert_fails(waf.judge_passes(answer("/", 403), post, proof), "the page got 403")


def test_a_post_whose_fields_do_not_reach_php_fails():
    proof = waf.form_proof("t0k", waf.FORM["message"])
    wrong = waf.form_proof("t0k", "")
    post = answer("/vw-waf-t0k.php", 200, f"proof={wrong}\n".encode(), "POST")
    assert_fails(waf.judge_passes(answer("/"), post, proof), "did not receive its fields")
    assert_fails(waf.judge_passes(answer("/"), answer("/x.php", 413, method="POST"), proof), "413")


def test_the_form_page_is_created_as_the_site_files_never_roots(tmp_path):
    # Run by a real shell, with stand-ins for stat and runuser that record who writes what:
    # the page must never exist as root's file, even for a moment (vhost.permissions runs
    # beside this check and would see it).
    bin_dir, root = tmp_path / "bin", tmp_path / "public"
    bin_dir.mkdir()
    root.mkdir()
    (bin_dir / "stat").write_text("#!/bin/sh\necho site-owner\n")
    (bin_dir / "runuser").write_text(
        "#!/bin/sh\n"
        '[ "$1" = -u ] && [ "$3" = -- ] || exit 9\n'
        'echo "$2" > "$RUNUSER_LOG"; shift 3; exec "$@"\n'
    )
    (bin_dir / "systemd-run").write_text('#!/bin/sh\necho "$@" > "$TIMER_LOG"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    page = root / "vw-waf-a.php"
    text = waf.write_form_script(str(root), str(page), "a")
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "RUNUSER_LOG": str(tmp_path / "runuser.log"),
        "TIMER_LOG": str(tmp_path / "timer.log"),
    }
    done = subprocess.run(["sh", "-c", str(text)], env=env, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "runuser.log").read_text().strip() == "site-owner"
    assert "TOKEN" not in page.read_text() and "a" in page.read_text()
    assert oct(page.stat().st_mode & 0o777) == "0o640"
    assert "/bin/rm -f" in (tmp_path / "timer.log").read_text()
    assert "chown" not in str(text) and "> " + str(page) not in str(text)


# ----------------------------------------------------------------------------- waf.audit_log

LOG_OK = "640 root adm 16330 bytes"


def test_the_audit_log_records_the_denial():
    result = waf.judge_audit_log(
        "blocking", traversal(403), LOG_OK, waf.AuditRecord(NGINX_DENIED), TOKEN
    )
    assert result.status == "ok", result
    assert "179661450779.022311" in result.evidence and "rule 949110" in result.evidence


def test_the_audit_log_in_detection_only_records_what_would_have_been_blocked():
    result = waf.judge_audit_log(
        "detection", traversal(200), LOG_OK, waf.AuditRecord(NGINX_DETECTED), TOKEN
    )
    assert result.status == "ok" and "would have been blocked" in result.summary, result
    assert_fails(
        waf.judge_audit_log(
            "blocking", traversal(200), LOG_OK, waf.AuditRecord(NGINX_DETECTED), TOKEN
        ),
        "let through, not denied",
    )


def test_the_audit_log_fails_when_missing_or_silent_and_warns_when_readable_by_all():
    missing = "stat: cannot statx '/var/log/modsecurity/audit.log': No such file or directory"
    assert_fails(
        waf.judge_audit_log("blocking", traversal(403), missing, waf.AuditRecord(""), TOKEN),
        "there is no audit log",
    )
    assert_fails(
        waf.judge_audit_log("blocking", traversal(403), LOG_OK, waf.AuditRecord(""), TOKEN),
        f"vwcheck={TOKEN}",
        "SecAuditEngine",
    )
    readable = waf.judge_audit_log(
        "blocking", traversal(403), "644 root root 1 bytes", waf.AuditRecord(NGINX_DENIED), TOKEN
    )
    assert readable.status == "warn" and "chmod 0640" in readable.hint, readable


# ----------------------------------------------------------------------------- the step


def rendered(server: str, template: str, **answers: object) -> str:
    """A template of the step, rendered from the answers given and the defaults of the others."""
    step = load_catalog().get("waf")
    steps = {"web": {"server": server, "upload_max": "32M"}, "vhost": {"domain": HOST}}
    raw = {**default_answers(step, {}, {"steps": steps}), **answers}
    values = validate_answers(step, raw).values
    return render_template(step, template, {"answers": values, "steps": steps})


def test_nginx_rules_set_the_answers_before_the_rule_set_and_remove_rules_after_it():
    text = rendered(
        "nginx",
        "nginx-modsecurity.conf.j2",
        mode="blocking",
        paranoia=2,
        threshold=10,
        exclusions=[942100, 920350],
    )
    assert "setvar:tx.paranoia_level=2" in text
    assert "setvar:tx.inbound_anomaly_score_threshold=10" in text
    assert "SecRuleEngine On" in text
    assert "SecRequestBodyLimit 41943040" in text  # 32M + 8M, as the web step's body limit
    assert text.index("tx.paranoia_level") < text.index("Include /usr/share/modsecurity-crs")
    assert text.index("/rules/*.conf") < text.index("SecRuleRemoveById 942100 920350")
    assert "SecAuditLog /var/log/modsecurity/audit.log" in text


def test_the_defaults_are_detection_only_paranoia_1_threshold_5_no_exclusion():
    text = rendered("nginx", "nginx-modsecurity.conf.j2")
    assert "SecRuleEngine DetectionOnly" in text
    assert "tx.paranoia_level=1" in text and "threshold=5," in text
    assert "SecRuleRemoveById" not in text


def test_apache_sets_the_engine_and_exclusions_per_site():
    site = rendered("apache", "apache-site-waf.conf.j2", mode="blocking", exclusions=[942100])
    assert "SecRuleEngine On" in site and "SecRuleRemoveById 942100" in site
    shared = rendered("apache", "apache-modsecurity.conf.j2")
    assert "SecRuleEngine" not in shared.replace("# ", "").split("SecRequestBodyAccess")[1]
    assert "Include" not in shared  # Debian's security2.conf loads the rule set itself


@pytest.mark.parametrize(
    ("answers", "words"),
    [
        ({"paranoia": 5}, "4"),
        ({"threshold": 0}, "1"),
        ({"exclusions": [0]}, "a rule id is a whole number from 1 up"),
        ({"exclusions": "942100, abc"}, "abc"),
        ({"mode": "block"}, "blocking"),
    ],
)
def test_answers_out_of_range_are_refused_at_the_question(answers, words):
    step = load_catalog().get("waf")
    raw = {**default_answers(step, {}, {"steps": {}}), **answers}
    with pytest.raises(WizardError) as error:
        values = validate_answers(step, raw).values
        check_refusals(step, {"answers": values, "steps": {}})
    assert words in f"{error.value.message} {error.value.hint}", error.value


# ----------------------------------------------------------------------------- http form POST


@pytest.fixture
def form_server() -> Iterator[tuple[str, int, list[dict[str, object]]]]:
    """A loopback HTTP server that records what a POST carried."""
    seen: list[dict[str, object]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = self.rfile.read(length).decode()
            seen.append({"type": self.headers["Content-Type"], "form": parse_qs(body)})
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield "127.0.0.1", server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def test_http_get_with_a_form_posts_it_url_encoded(form_server):
    address, port, seen = form_server
    got = http_get(address, HOST, "/form.php", port=port, form=waf.FORM)
    assert got.status == 200 and got.where.startswith("POST http://example.net/form.php")
    assert got.url == "http://example.net/form.php"
    assert seen[0]["type"] == "application/x-www-form-urlencoded"
    assert seen[0]["form"] == {key: [value] for key, value in waf.FORM.items()}
