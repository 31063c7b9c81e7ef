"""Questions refuse answers that cannot work: a PHP the release does not ship, a site domain
with www or pasted as a URL; the tls step's ACME and existing-file questions are asked (and
checked) only for the source they belong to."""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App
from textual.widgets import Select

from screens.questions import QuestionsScreen
from wizard.answers import check_refusals, parse_fqdn, validate_answers
from wizard.catalog import load_catalog
from wizard.errors import AnswerError
from wizard.render import evaluate

CATALOG = load_catalog()
WEB = CATALOG.get("web")
VHOST = CATALOG.get("vhost")
TLS = CATALOG.get("tls")
ACME = "https://acme-v02.api.letsencrypt.org/directory"


def facts(os_id: str, version: str) -> dict[str, Any]:
    # No php_versions: apt's lists empty, so the static choices and their refusals hold.
    return {"os_id": os_id, "os_version": version, "os_family": "debian", "php_versions": ()}


def web_answers(php: str) -> dict[str, Any]:
    return {"server": "nginx", "php_version": php, "memory_limit": "256M", "upload_max": "32M"}


@pytest.mark.parametrize(
    ("os_id", "version", "ships"),
    [("debian", "12", "8.2"), ("debian", "13", "8.4"), ("ubuntu", "24.04", "8.3")],
)
def test_php_is_the_release_s_own(os_id: str, version: str, ships: str) -> None:
    release = facts(os_id, version)
    default = evaluate(WEB, WEB.question("php_version").default or "", {"facts": release})
    assert default == ships
    answers = validate_answers(WEB, web_answers(ships))
    check_refusals(WEB, {"answers": answers.values, "facts": release, "steps": {}})
    for other in {"8.2", "8.3", "8.4"} - {ships}:
        answers = validate_answers(WEB, web_answers(other))
        with pytest.raises(AnswerError) as refused:
            check_refusals(WEB, {"answers": answers.values, "facts": release, "steps": {}})
        assert refused.value.message.startswith("web.php_version: ")
        assert f"ships PHP {ships}" in refused.value.message
        assert f"choose {ships}" in refused.value.hint


def vhost_answers(domain: str) -> dict[str, Any]:
    return {
        "domain": domain,
        "canonical": "bare",
        "owner": "site",
        "trusted_proxies": "",
        "csp": "",
    }


def refusal(step, raw: dict[str, Any]) -> str:
    with pytest.raises(AnswerError) as refused:
        validate_answers(step, raw)
    return refused.value.message


def test_the_site_domain_is_given_without_www() -> None:
    assert validate_answers(VHOST, vhost_answers("Example.NET")).values["domain"] == "example.net"
    assert refusal(VHOST, vhost_answers("www.example.net")) == (
        "vhost.domain: give example.net; the canonical question chooses www"
    )


@pytest.mark.parametrize(
    "pasted",
    [
        "https://example.net/",
        "https://www.example.net/blog/?p=1",
        "example.net/about",
        "http://example.net:8080",
    ],
)
def test_a_pasted_url_is_refused_with_its_domain(pasted: str) -> None:
    assert refusal(VHOST, vhost_answers(pasted)) == "vhost.domain: a domain, not a URL: example.net"


def test_every_name_question_refuses_a_url() -> None:
    with pytest.raises(AnswerError, match=r"a domain, not a URL: vps\.example\.org"):
        parse_fqdn("https://vps.example.org/")


def tls_answers(source: str, **changed: Any) -> dict[str, Any]:
    answers = {
        "source": source,
        "acme_server": ACME,
        "email": "",
        "acme_ca_bundle": "",
        "ca_file": "",
        "cert_file": "",
        "key_file": "",
        "compress_https": False,
    }
    return {**answers, **changed}


def test_acme_questions_are_not_checked_for_a_self_signed_certificate() -> None:
    raw = tls_answers("self-signed", acme_server="not a url", email="nobody", ca_file="x")
    values = validate_answers(TLS, raw).values
    assert values["source"] == "self-signed"
    assert values["acme_server"] == values["email"] == values["ca_file"] == ""
    # Left out entirely (an answers file for a self-signed certificate): still accepted.
    values = validate_answers(TLS, {"source": "self-signed", "compress_https": False}).values
    assert values["cert_file"] == values["key_file"] == values["acme_server"] == ""


def test_a_question_not_asked_keeps_its_prefilled_value_for_later() -> None:
    values = validate_answers(TLS, tls_answers("self-signed")).values
    assert values["acme_server"] == ACME


def test_asked_questions_are_still_checked() -> None:
    assert refusal(TLS, tls_answers("acme", acme_server="http://x")).startswith(
        "tls.acme_server: expected an https:// address"
    )
    assert refusal(TLS, tls_answers("existing", cert_file="etc/a.pem")).startswith(
        "tls.cert_file: expected an absolute path"
    )
    existing = tls_answers("existing", cert_file="/etc/ssl/a.pem", key_file="/etc/ssl/a.key")
    values = validate_answers(TLS, existing).values
    assert values["cert_file"] == "/etc/ssl/a.pem" and values["acme_server"] == ACME


class FormApp(App[None]):
    def __init__(self, defaults: dict[str, Any]) -> None:
        super().__init__()
        self.defaults = defaults

    def on_mount(self) -> None:
        self.push_screen(QuestionsScreen(TLS, self.defaults))


def shown(screen: QuestionsScreen) -> set[str]:
    return {field.key for field in screen.shown_fields}


async def test_the_form_hides_the_questions_of_another_source() -> None:
    app = FormApp(tls_answers("self-signed", acme_server="bad"))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, QuestionsScreen)
        assert shown(screen) == {"source", "compress_https"}
        # A bad value in a hidden field does not hold Next back.
        assert not screen.query_one("#next").disabled
        screen.query_one("#q-source", Select).value = "acme"
        await pilot.pause()
        assert shown(screen) == {
            "source",
            "acme_server",
            "email",
            "acme_ca_bundle",
            "ca_file",
            "compress_https",
        }
        assert screen.query_one("#next").disabled
        screen.query_one("#q-source", Select).value = "existing"
        await pilot.pause()
        assert shown(screen) == {"source", "ca_file", "cert_file", "key_file", "compress_https"}
