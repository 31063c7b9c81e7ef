"""Named validators: each defined once (a script in wizard/validate/ and a line in
wizard/validators.py), valid shell once rendered, and what it was when it was pasted."""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

import wizard
from wizard.errors import WizardError
from wizard.plan import render_step, render_validate
from wizard.render import render_shell
from wizard.steps import FileSpec, NamedValidator, Step
from wizard.validators import NAMES, VALIDATORS, validator

SCRIPTS = Path(wizard.__file__).parent / "validate"
SSHD_PARAMS = {
    "users": ["root", "alice"],
    "addresses": ["192.0.2.1"],
    "expect": ["permitrootlogin no", "port 2222"],
}


def step_here(tmp_path: Path) -> Step:
    return Step("demo", "Demo", "", source_dir=str(tmp_path))


def rendered(tmp_path: Path, name: str) -> str:
    params = SSHD_PARAMS if name == "sshd" else {}
    return render_shell(step_here(tmp_path), validator(name).body(), params)


def test_every_validator_has_its_script_and_every_script_a_validator():
    assert sorted(p.name for p in SCRIPTS.glob("*.sh.j2")) == sorted(f"{n}.sh.j2" for n in NAMES)
    assert {"apache", "nginx", "postfix", "dovecot", "fail2ban", "opendkim", "sshd"} <= set(NAMES)
    assert {"named", "nftables"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_each_says_what_it_proves_and_renders_as_valid_shell_without_its_comment(tmp_path, name):
    named = validator(name)
    assert len(named.summary()) > 30, name
    text = rendered(tmp_path, name)
    assert not text.lstrip().startswith("#")
    check = subprocess.run(["sh", "-n", "-c", text], capture_output=True, text=True, check=False)
    assert check.returncode == 0, f"{name}: {check.stderr}\n{text}"


@pytest.mark.parametrize("name", NAMES)
def test_copy_is_read_only_by_a_validator_that_checks_a_copy(tmp_path, name):
    named = VALIDATORS[name]
    assert ('"$copy"' in named.body()) == (named.validate_in is not None), name


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(WizardError) as error:
        validator("apache2")
    assert "apache, nginx" in error.value.hint


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("nginx", "nginx -t -q -c {copy}/nginx.conf"),
        ("named", "named-checkconf {copy}/named.conf"),
        ("nftables", "nft -c -f {new}"),
        ("sudoers", "visudo -cqf {new}"),
        ("apt", "apt-config -c {new} dump >/dev/null"),
        ("sh", "sh -n {new}"),
    ],
)
def test_a_one_line_validator_is_the_line_it_replaces(tmp_path, name, line):
    assert rendered(tmp_path, name) == render_validate(step_here(tmp_path), line, {})


# The long lines as they were pasted in the steps (before the named validators), placeholders
# as the apply's variables: the scripts are the same commands, laid out on lines.
PASTED = {
    "apache": """d=$(mktemp -d) && cp -a /etc/apache2/. "$d"/ && find "$d" -name "*.vw-new.{run}" | while read -r f; do t="${f%.vw-new.{run}}"; mv -f "$f" "$t"; case "$t" in */sites-available/*|*/conf-available/*) a="${t%/*}"; ln -sf "../${a##*/}/${t##*/}" "${a%-available}-enabled/${t##*/}";; esac; done && APACHE_CONFDIR="$d" apache2ctl -t; rc=$?; rm -rf "$d"; exit $rc""",  # noqa: E501
    "postfix": """d=$(mktemp -d) && cp -a /etc/postfix/. "$d"/ && find "$d" -name "*.vw-new.{run}" | while read -r f; do mv -f "$f" "${f%.vw-new.{run}}"; done && sh "$d/vps-wizard/merge.sh" "$d"; rc=$?; rm -rf "$d"; exit $rc""",  # noqa: E501
    "dovecot": """d=$(mktemp -d) && cp -a /etc/dovecot/. "$d"/ && find "$d" -name "*.vw-new.{run}" | while read -r f; do mv -f "$f" "${f%.vw-new.{run}}"; done && doveconf -c "$d/dovecot.conf" -n >/dev/null; rc=$?; rm -rf "$d"; exit $rc""",  # noqa: E501
    "opendkim": """d=$(mktemp -d) && for f in KeyTable SigningTable; do s=/etc/opendkim/vps-wizard/$f; if [ -e $s.vw-new.{run} ]; then cp $s.vw-new.{run} $d/$f; else cp $s $d/$f; fi || exit 1; done && sed "s|/etc/opendkim/vps-wizard/|$d/|" {new} > $d/opendkim.conf && opendkim -n -x $d/opendkim.conf; rc=$?; rm -rf $d; exit $rc""",  # noqa: E501
}


def _one_line(text: str) -> str:
    """A script laid out on lines, joined back as it was pasted: a line break after `do`,
    `then`, `in`, `&&`, `|`, `;;`, `{` or a case pattern is a space, any other a `; `."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    joined = lines[0]
    for line in lines[1:]:
        space = joined.endswith((" do", " then", " in", "&&", "|", ";;", "{", "*)"))
        joined += (" " if space else "; ") + line
    return joined


# ssh-hardening's line, its Jinja values written as the parameters of SSHD_PARAMS give them.
PASTED_SSHD = """mkdir -p /run/sshd && sshd -t -f {copy}/sshd_config && for who in root alice; do for addr in 192.0.2.1; do out=$(sshd -T -f {copy}/sshd_config -C "user=$who,host=vps-wizard.invalid,addr=$addr") || exit 1; for want in 'permitrootlogin no' 'port 2222'; do printf '%s\\n' "$out" | grep -qixF -e "$want" || { echo "refused: with these files sshd would not run with $want (user $who from $addr)"; exit 1; }; done; done; done"""  # noqa: E501


def test_the_sshd_validator_is_the_pasted_line_with_its_values_as_parameters(tmp_path):
    old = render_validate(step_here(tmp_path), PASTED_SSHD, {})
    assert _one_line(rendered(tmp_path, "sshd")) == old


@pytest.mark.parametrize("name", sorted(PASTED))
def test_a_long_validator_is_the_pasted_line_laid_out(tmp_path, name):
    old = render_validate(step_here(tmp_path), PASTED[name], {})
    new = rendered(tmp_path, name)
    assert _one_line(new) == old


# ----------------------------------------------------------------------------- in a plan


def file_step(tmp_path: Path, named: NamedValidator, validate_in: str | None = None) -> Step:
    (tmp_path / "demo.conf.j2").write_text("demo\n")
    spec = FileSpec("demo.conf.j2", "/etc/ssh/demo.conf", validate_in=validate_in)
    return Step(
        "demo", "Demo", "", files=(replace(spec, validate_with=named),), source_dir=str(tmp_path)
    )


def test_a_named_validator_brings_its_validate_in_and_gets_its_params_quoted(tmp_path):
    params = {"users": "['root', answers.admin]", "addresses": "['192.0.2.1']", "expect": "x"}
    step = file_step(tmp_path, NamedValidator("sshd", {**params, "expect": "[answers.want]"}))
    hostile = "port 22'; touch /tmp/owned; '"
    (desired,) = render_step(step, {"answers": {"admin": "alice", "want": hostile}}).files
    assert desired.spec.validate_in == "/etc/ssh"
    assert desired.validate is not None
    assert "for who in root alice; do" in desired.validate
    assert f"for want in {shlex.quote(hostile)}; do" in desired.validate
    assert 'sshd -t -f "$copy"/sshd_config' in desired.validate


def test_a_validator_without_validate_in_leaves_the_file_as_it_is(tmp_path):
    step = file_step(tmp_path, NamedValidator("sudoers"))
    (desired,) = render_step(step, {}).files
    assert desired.spec.validate_in is None
    assert desired.validate == 'visudo -cqf "$new"'


def test_params_other_than_the_declared_ones_are_a_step_bug(tmp_path):
    step = file_step(tmp_path, NamedValidator("sshd", {"users": "['root']"}))
    with pytest.raises(WizardError) as error:
        render_step(step, {})
    assert "takes the parameters users, addresses, expect" in error.value.message
    with pytest.raises(WizardError):
        render_step(file_step(tmp_path, NamedValidator("sudoers", {"x": "1"})), {})


def test_another_validate_in_than_the_validators_is_a_step_bug(tmp_path):
    step = file_step(tmp_path, NamedValidator("nginx"), validate_in="/etc/apache2")
    with pytest.raises(WizardError) as error:
        render_step(step, {})
    assert "checks a copy of /etc/nginx" in error.value.message


# The zone fragments' lines: dns-zone's had no stand-in NS record (its fragment holds the
# zone's own NS records), mail-auth's had one; the zone validator has it for both.
PASTED_ZONE = {
    "dns-zone": """t=$(mktemp) && { printf '$TTL 300\\n@ IN SOA ns. host. 1 3600 900 1209600 300\\n'; cat {new}; } > $t && named-checkzone -q vps-wizard.invalid $t; rc=$?; rm -f $t; exit $rc""",  # noqa: E501
    "mail-auth": """t=$(mktemp) && { printf '$TTL 300\\n@ IN SOA ns. host. 1 3600 900 1209600 300\\n@ IN NS ns.\\n'; cat {new}; } > $t && named-checkzone -q vps-wizard.invalid $t; rc=$?; rm -f $t; exit $rc""",  # noqa: E501
}


def test_the_zone_validator_is_mail_auths_line_and_dns_zones_with_the_stand_in_ns(tmp_path):
    new = _one_line(rendered(tmp_path, "zone"))
    assert new == render_validate(step_here(tmp_path), PASTED_ZONE["mail-auth"], {})
    old = render_validate(step_here(tmp_path), PASTED_ZONE["dns-zone"], {})
    assert new == old.replace("300\\n'", "300\\n@ IN NS ns.\\n'")
