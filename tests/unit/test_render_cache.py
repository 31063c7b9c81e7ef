"""Rendering compiles each template once: strings per process, template files by content in
the user's cache folder. What is rendered is always the template as it is now."""

from __future__ import annotations

from pathlib import Path

from wizard import render
from wizard.catalog import load_step

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
