"""step.toml is checked at load: every typo is refused with the file, the line and what was
expected, in a shipped step and in a user's alike; the reference page is current."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from wizard import stepschema
from wizard.catalog import load_catalog, load_step, shipped_steps_dir
from wizard.checks.manifest import MANIFEST, ParamType
from wizard.errors import WizardError
from wizard.plan import step_packages
from wizard.render import render_shell
from wizard.steps import NamedValidator

REPO = Path(__file__).resolve().parents[2]

# A step with every typo of the issue, each on a line of its own; the comment names the typo.
TYPOS = """\
id = "typos"
title = "A step with typos"
guard = "lockot"                          # guard
order = 900

[[questions]]
name = "port"
type = "prot"                             # type
prompt = "Port"

[[files]]
template = "a.j2"
dest = "/etc/a"
mode = "0x644"                            # mode
notfy = ["ssh"]                           # notfy

[[commands]]
run = "true"
stage = "befor"                           # stage

[handlers]
ssh = "relaod"                            # relaod

[[checks]]
id = "ssh.logn"                           # check id

[[checks]]
id = "ssh.login"
params = { user = "answers.user", prot = "answers.port" }   # param
"""


def _line(text: str, marker: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.endswith(f"# {marker}"))


def _write_step(root: Path, name: str, text: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "step.toml").write_text(text)
    return folder / "step.toml"


def _refusal(root: Path) -> str:
    with pytest.raises(WizardError) as caught:
        load_catalog([root])
    assert "docs/steps.md" in caught.value.hint
    return caught.value.message


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's step folder, in a temporary config directory."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "vps-wizard" / "steps"


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        (
            "guard",
            r"'lockot' is not a known value of 'guard'; did you mean 'lockout'\? "
            r"\(expected one of: 'lockout'\)",
        ),
        ("type", r"'prot' is not a known value of 'type'; did you mean 'port'\?.*'port_list'"),
        ("mode", r"'0x644' does not fit 'mode': expected an octal file mode like \"0644\""),
        (
            "notfy",
            r"unknown field 'notfy' in \[\[files\]\]; did you mean 'notify'\? "
            r"\(expected one of: template, dest, mode",
        ),
        (
            "stage",
            r"'befor' is not a known value of 'stage'; did you mean 'before'\? "
            r"\(expected one of: 'before', 'after'\)",
        ),
        (
            "relaod",
            r"'relaod' is not a known value of 'handlers'; did you mean 'reload'\? "
            r"\(expected one of: 'reload', 'restart', 'reload-or-restart', 'regenerate'\)",
        ),
        ("check id", r"'ssh.logn' is not a known value of 'id'; did you mean 'ssh.login'\?"),
        (
            "param",
            r"check 'ssh.login' has no parameter 'prot'; did you mean 'port'\? "
            r"\(it takes: user, port\)",
        ),
    ],
)
def test_each_typo_of_a_user_step_is_refused_at_its_line(
    config_dir: Path, marker: str, expected: str
) -> None:
    path = _write_step(config_dir, "typos", TYPOS)
    message = _refusal(config_dir.parent / "nothing-else")
    line = _line(TYPOS, marker)
    found = [entry for entry in message.splitlines() if entry.startswith(f"  {path}:{line}: ")]
    assert found, f"nothing at line {line}:\n{message}"
    assert re.search(expected, found[0]), found[0]


def test_every_problem_of_the_file_is_listed_at_once(config_dir: Path) -> None:
    _write_step(config_dir, "typos", TYPOS)
    message = _refusal(config_dir.parent / "nothing-else")
    assert "has 8 problems" in message
    assert len(message.splitlines()) == 9


def test_a_step_in_an_extra_dir_is_checked_the_same(tmp_path: Path) -> None:
    path = _write_step(tmp_path, "typos", TYPOS)
    message = _refusal(tmp_path)
    assert f"{path}:{_line(TYPOS, 'guard')}: guard: 'lockot'" in message


def test_requires_naming_no_step_is_refused_at_its_line(tmp_path: Path) -> None:
    text = 'id = "x"\ntitle = "X"\nrequires = [\n  "base",\n  "fire-wall",\n]\n'
    path = _write_step(tmp_path, "x", text)
    message = _refusal(tmp_path)
    assert f"{path}:5: requires[2]: there is no step 'fire-wall'; did you mean 'firewall'?" in (
        message
    )


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        # A required check parameter missing: at the params line.
        (
            '[[checks]]\nid = "system.hostname"\nparams = { }\n',
            5,
            "check 'system.hostname' needs the parameter 'fqdn' (text: the expected name)",
        ),
        # A wrong type.
        ("[[commands]]\nrun = 'true'\ntimeout = '9'\n", 5, "'timeout' is text: expected integer"),
        # A list item or a handler that is not text: at its own line.
        (
            '[[files]]\ntemplate = "a"\ndest = "/a"\nnotify = [\n  "ssh",\n  2,\n]\n',
            8,
            "files[1].notify[2]: item 2 of 'notify' is an integer: expected text",
        ),
        ("[handlers]\nssh = true\n", 4, "handlers.ssh: 'ssh' is a bool: expected text"),
        # A field that belongs to another question type.
        (
            '[[questions]]\nname = "a"\ntype = "port"\nprompt = "A"\nchoices = ["1"]\n',
            7,
            "'choices' is for questions of type choice, not port",
        ),
        (
            '[[questions]]\nname = "a"\ntype = "choice"\nprompt = "A"\n',
            3,
            "a choice question needs 'choices' or 'choices_from'",
        ),
        # A named validator that does not exist, in an inline table.
        (
            '[[files]]\ntemplate = "a"\ndest = "/a"\nvalidate = { with = "apach" }\n',
            6,
            "'apach' is not a known value of 'with'; did you mean 'apache'?",
        ),
        # An answer name Jinja cannot read as answers.NAME.
        (
            '[[questions]]\nname = "extra-ports"\ntype = "port_list"\nprompt = "A"\n',
            4,
            "'extra-ports' does not fit 'name': expected lower-case letters, digits and "
            "underscores",
        ),
        # A validator's parameter it does not take.
        (
            '[[files]]\ntemplate = "a"\ndest = "/a"\n'
            'validate = { with = "sshd", params = { user = "x" } }\n',
            6,
            "validator 'sshd' has no parameter 'user'; did you mean 'users'? (it takes: users,",
        ),
        # A list question without its item type, a column of a list type.
        (
            '[[questions]]\nname = "a"\ntype = "list"\nprompt = "A"\n',
            3,
            "a list question needs 'item', the type of its items",
        ),
        (
            '[[questions]]\nname = "a"\ntype = "table"\nprompt = "A"\ncolumns = [\n'
            '  { name = "b", prompt = "B", type = "port_list" },\n]\n',
            8,
            "a column holds one value: expected one of",
        ),
        # A refusal about a question the step does not ask.
        (
            '[[refuse]]\nquestion = "prot"\nwhen = "true"\nreason = "r"\n',
            4,
            "the step has no question 'prot'",
        ),
        # A missing required field: at the table's header.
        ('\n[[files]]\ntemplate = "a"\n', 4, "[[files]] needs 'dest'"),
        # Conditional packages without their condition, or a field they do not have.
        ('\n[[install]]\npackages = ["nginx"]\n', 4, "[[install]] needs 'when'"),
        (
            '[[install]]\npackages = ["nginx"]\nwhen = "true"\nstage = "before"\n',
            6,
            "unknown field 'stage'",
        ),
        # A help text holding brackets and '=' does not confuse the line scan.
        (
            'help = """\n[[files]]\nmode = "x"\n"""\n[[files]]\ntemplate = "a"\ndest = "/a"\n'
            'mode = "9"\n',
            10,
            "'9' does not fit 'mode'",
        ),
    ],
)
def test_other_mistakes_are_refused_at_their_line(
    tmp_path: Path, text: str, line: int, expected: str
) -> None:
    path = _write_step(tmp_path, "x", 'id = "x"\ntitle = "X"\n' + text)
    with pytest.raises(WizardError) as caught:
        load_step(path.parent)
    assert f"{path}:{line}: " in caught.value.message
    assert expected in caught.value.message


def test_a_file_that_is_not_toml_is_refused_with_its_line(tmp_path: Path) -> None:
    path = _write_step(tmp_path, "x", 'id = "x"\ntitle = \n')
    with pytest.raises(WizardError) as caught:
        load_step(path.parent)
    assert str(path) in caught.value.message and "line 2" in caught.value.message


def test_all_shipped_steps_load_clean() -> None:
    catalog = load_catalog()
    shipped = sorted(p.name for p in shipped_steps_dir().iterdir() if (p / "step.toml").is_file())
    assert sorted(catalog.ids()) == shipped
    assert catalog.get("ssh-hardening").guard == "lockout"


def test_new_shapes_load_into_the_step(tmp_path: Path) -> None:
    data = {
        "id": "x",
        "title": "X",
        "files": [{"template": "a", "dest": "/a", "validate": {"with": "apache"}}],
        "commands": [{"run": {"script": "merge.sh.j2"}, "stage": "before"}],
        "packages": ["php-fpm"],
        "install": [
            {"packages": ["nginx"], "when": "answers.v == 'nginx'"},
            {"packages": ["apache2", "php-fpm"], "when": "answers.v == 'apache'"},
        ],
        "questions": [
            {"name": "v", "type": "choice", "prompt": "V", "choices_from": "facts.php"},
        ],
    }
    assert stepschema.problems_of(data) == []
    (tmp_path / "merge.sh.j2").write_text("merge {{ answers.v }}\n")
    step = stepschema.step_from_toml(data, str(tmp_path))
    assert step.files[0].validate_with == NamedValidator("apache")
    assert step.files[0].validate is None
    # The script's text is the command's run: the plan renders and quotes it as any run.
    assert (step.commands[0].script, step.commands[0].run) == (
        "merge.sh.j2",
        "merge {{ answers.v }}\n",
    )
    assert render_shell(step, step.commands[0].run, {"answers": {"v": "a b; rm -rf /"}}) == (
        "merge 'a b; rm -rf /'\n"
    )
    assert step.questions[0].choices_from == "facts.php"
    # Every package the step may install, each once; the plan keeps those of its answers.
    assert step.any_packages == ("php-fpm", "nginx", "apache2")
    assert step_packages(step, {"answers": {"v": "apache"}}) == ("php-fpm", "apache2")
    assert step.help == "" and step.source_dir == str(tmp_path)


def test_the_line_scan_finds_keys_in_inline_tables_and_arrays() -> None:
    text = (
        '[[questions]]\nname = "a"\n[[questions]]\nname = "b"\ncolumns = [\n'
        '  { name = "c", type = "port" },\n  { name = "d",\n    type = "x" },\n]\n'
        '[handlers]\n"php*-fpm.service" = "reload"\n'
    )
    lines = stepschema.locate(text)
    assert lines[("questions", 1, "name")] == 4
    assert lines[("questions", 1, "columns", 1, "type")] == 8
    assert lines[("handlers", "php*-fpm.service")] == 11


def test_the_reference_page_is_current() -> None:
    committed = (REPO / "docs" / "steps.md").read_text()
    assert committed == stepschema.markdown(), (
        "docs/steps.md is out of date: python -m wizard.stepschema --markdown > docs/steps.md"
    )


def test_the_reference_page_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wizard.stepschema", "--markdown"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == stepschema.markdown()
    assert "| `guard` | text |" in done.stdout and "### `ssh.login`" in done.stdout


def test_a_template_or_script_missing_from_the_folder_is_refused_at_its_line(
    tmp_path: Path,
) -> None:
    text = (
        'id = "x"\ntitle = "X"\n[[files]]\ntemplate = "mian.cf.j2"\ndest = "/etc/a"\n'
        '[[commands]]\nrun = { script = "merge.sh.j2" }\n'
    )
    path = _write_step(tmp_path, "x", text)
    (path.parent / "main.cf.j2").write_text("")
    with pytest.raises(WizardError) as caught:
        load_step(path.parent)
    message = caught.value.message
    assert f"{path}:4: files[1].template: there is no file 'mian.cf.j2' in {path.parent}; " in (
        message
    )
    assert "did you mean 'main.cf.j2'?" in message
    assert f"{path}:7: commands[1].run.script: there is no file 'merge.sh.j2'" in message
    (path.parent / "merge.sh.j2").write_text("")
    (path.parent / "mian.cf.j2").write_text("")
    assert load_step(path.parent)[1].commands[0].script == "merge.sh.j2"


def test_a_step_id_that_is_not_a_plain_name_is_refused(tmp_path: Path) -> None:
    path = _write_step(tmp_path, "x", 'title = "X"\nid = "Mail Auth"\n')
    with pytest.raises(WizardError) as caught:
        load_step(path.parent)
    assert f"{path}:2: id: 'Mail Auth' does not fit 'id': expected lower-case letters, " in (
        caught.value.message
    )


def _param_type_of_answer(question_type: str) -> ParamType:
    if question_type == "bool":
        return ParamType.BOOL
    if question_type in ("port", "integer"):
        return ParamType.INTEGER
    if question_type in ("list", "table") or question_type.endswith("_list"):
        return ParamType.TEXT_LIST
    return ParamType.TEXT


def test_check_params_that_are_plain_answers_have_the_declared_type() -> None:
    """Where a shipped step passes an answer as it is (answers.port, steps['vhost'].domain),
    the question's type gives the value the check receives: it fits the manifest."""
    catalog = load_catalog()
    types = {(s.id, q.name): q.type for s in catalog.steps for q in s.questions}
    compared = 0
    for step in catalog.steps:
        for spec in step.checks:
            for name, expression in spec.params.items():
                own = re.fullmatch(r"answers\.(\w+)", expression.strip())
                other = re.fullmatch(r"steps\['([\w-]+)'\]\.(\w+)", expression.strip())
                key = (step.id, own[1]) if own else (other[1], other[2]) if other else None
                if key is None:
                    continue
                param = MANIFEST[spec.id].param(name)
                assert param is not None
                assert param.type is _param_type_of_answer(types[key]), (spec.id, name)
                compared += 1
    assert compared > 50


def test_the_line_scan_never_hangs_on_text_it_cannot_follow() -> None:
    """It serves only error messages: an unfinished value keeps the lines found before it."""
    lines = stepschema.locate('a = 1\nb = [1, {c = "x\n')
    assert lines[("a",)] == 1 and lines[("b", 1, "c")] == 2
    assert stepschema.locate('a = "unterminated') == {("a",): 1}
