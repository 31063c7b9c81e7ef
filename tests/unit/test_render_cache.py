"""Rendering compiles each template once: template files and strings by content, kept in the
user's cache folder. What is rendered is always the template as it is now."""

from __future__ import annotations

from pathlib import Path

import pytest

from wizard import render
from wizard.catalog import load_step
from wizard.errors import WizardError

STEP = """id = "cache-test"
order = 999
title = "TEST: render cache"
help = "A file."

[[files]]
template = "a.conf.j2"
dest = "/etc/cache-test/a.conf"
"""


def step_in(folder: Path, template: str):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "step.toml").write_text(STEP)
    (folder / "a.conf.j2").write_text(template)
    return load_step(folder)[1]


def test_an_edited_template_renders_its_new_text_in_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "cache-test"
    step = step_in(folder, "first {{ word }}\n")
    render._environment.cache_clear()
    assert render.render_template(step, "a.conf.j2", {"word": "a"}) == "first a\n"
    assert list((tmp_path / "cache").rglob("*.cache")), "the compiled template is kept"
    # The next run (a new environment) with the same content loads it compiled; with new
    # content, the new text.
    render._environment.cache_clear()
    assert render.render_template(step, "a.conf.j2", {"word": "b"}) == "first b\n"
    step = step_in(folder, "second {{ word }}\n")
    render._environment.cache_clear()
    assert render.render_template(step, "a.conf.j2", {"word": "c"}) == "second c\n"
    render._environment.cache_clear()


def test_a_string_without_jinja_is_itself_and_one_with_it_renders(tmp_path):
    step = step_in(tmp_path / "cache-test", "x\n")
    for text in ("/etc/a b/{c}.conf", "100%", "$HOME/#x", ""):
        assert render.render_string(step, text, {}) == text
    assert render.render_string(step, "/etc/{{ d }}/x{# no #}", {"d": "y"}) == "/etc/y/x"
    assert render.render_string(step, "/etc/{{ d }}/x", {"d": "z"}) == "/etc/z/x"


def test_the_next_run_compiles_no_string_or_expression_it_compiled_before(tmp_path, monkeypatch):
    """A command is a new process: a destination, a command or a condition compiled by an
    earlier run of the same version is loaded from the cache folder, not compiled again, and
    renders what it says now."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    step = step_in(tmp_path / "cache-test", "x\n")
    compiled: list[str] = []
    original = render.jinja2.Environment.compile

    def counting(self, source, *args, **kwargs):
        compiled.append(str(source))
        return original(self, source, *args, **kwargs)

    monkeypatch.setattr(render.jinja2.Environment, "compile", counting)

    def one_run(word: str) -> tuple[str, str, object]:
        for cached in (render._environment, render._compiled, render._expression):
            cached.cache_clear()
        return (
            render.render_string(step, "/etc/{{ word }}.conf", {"word": word}),
            str(render.render_shell(step, "echo {{ word }}", {"word": word})),
            render.evaluate(step, "word | length > 2 and word != 'xyz'", {"word": word}),
        )

    assert one_run("ab") == ("/etc/ab.conf", "echo ab", False)
    assert len(compiled) == 3
    assert one_run("abcd") == ("/etc/abcd.conf", "echo abcd", True)
    assert len(compiled) == 3, compiled[3:]
    # An expression keeps compile_expression's meaning: an undefined name is an error on use.
    with pytest.raises(WizardError, match="undefined"):
        render.evaluate(step, "missing > 1", {})
