"""A user's template cannot exhaust memory or time: ``'x' * 10**10``, padding to a
billion characters, loops of loops. Each was a bare MemoryError (or half a minute of
CPU) out of ``ws.mail.compose``; each is now refused quickly, as a template whose own
expression fails is, naming the template, the part and the limit it went over."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from crm_core.errors import ValidationError
from crm_core.mail import templates
from crm_core.mail.sandbox import MAX_SECONDS
from crm_core.mail.templates import render

#: The most a refused template may take to render.
PEAK_LIMIT = 50_000_000
LOOPS = (
    "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "more than 100,000 loop iterations and calls",
)

HOSTILE = [
    ("{{ 'x' * 10**10 }}", "'*' would make more than 100,000 characters"),
    ("{{ 10**10 * 'x' }}", "'*' would make more than 100,000 characters"),
    ("{{ [0] * 10**9 }}", "'*' would make more than 100,000 characters or items"),
    ("{{ 2 ** (10 ** 8) }}", "'**' would make more than 100,000"),
    ("{{ 'ab'|center(999999999999) }}", "center would make more than 100,000"),
    ("{{ 'x'|indent(10**9) }}", "indent would make more than 1,000,000"),
    ("{{ ('a\\n' * 50000)|indent(1000) }}", "indent would make more than 1,000,000"),
    ("{{ 'a b'|wordwrap(1, wrapstring='z' * 99999) * 1 }}", None),  # within the bounds
    ("{{ '%999999999d'|format(1) }}", "the width 999999999 would make more than 100,000"),
    ("{{ '%*d'|format(10**9, 1) }}", "a '*' width would make more than 100,000"),
    ("{{ '%999999999d' % 1 }}", "the width 999999999 would make more than 100,000"),
    ("{{ '{:>999999999}'.format(1) }}", "the width 999999999 would make more than 100,000"),
    ("{{ '{:{}}'.format(1, 10**9) }}", "a nested width would make more than 100,000"),
    ("{{ 'x'.ljust(10**9) }}", "ljust() would make more than 100,000"),
    ("{{ 'x'.zfill(10**9) }}", "zfill() would make more than 100,000"),
    ("{{ ('x' * 99999)|replace('', 'y' * 99999) }}", "replace would make more than 1,000,000"),
    ("{{ ('x' * 99999).replace('', 'y' * 99999) }}", "replace would make more than 1,000,000"),
    ("{{ [1]|batch(10**9, 'x')|list }}", "batch would make more than 100,000"),
    ("{{ [1]|slice(10**9, 'x')|list }}", "slice would make more than 100,000"),
    ("{{ (('x' * 99999)|string) * 11 }}", "'*' would make more than 100,000"),
    ("{% set s = 'x' * 99999 %}{{ [s] * 99999 }}", "a value would make more than 1,000,000"),
    (
        "{% set s = 'x' * 99999 %}{{ ([s] * 99999)|join }}",
        "the input of the filter 'join' would make more than 1,000,000",
    ),
    ("{% set s = 'x' * 99999 %}{{ '-'.join([s] * 99999) }}", "join() would make more"),
    (
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        "'~' would make more than 1,000,000",
    ),
    (
        "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}"
        "{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}",
        "'+' would make more than 100,000",
    ),
    (
        "{% set l = [1] %}{% for i in range(40) %}{{ l.extend(l) }}{% endfor %}",
        "extend() would make more than 100,000",
    ),
    ("{{ {}|tojson(indent=10**9) }}", "the indent of tojson would make more than 100"),
    (
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "a range of more than 10,000 numbers",
    ),
    LOOPS,
    (
        "{% for i in range(10000) %}{{ 'x' * 99999 }}{% endfor %}",
        "more than 1,000,000 characters of output",
    ),
    (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(40) }}",
        "more than 100,000 loop iterations and calls",
    ),
]


def _write(root, name: str, **parts: str) -> None:
    folder = root / "email" / name
    folder.mkdir(parents=True)
    values = {"subject": "Hi", "text": "t", "html": "h", **parts}
    (folder / "en.toml").write_text(
        "".join(f"{key} = '''\n{value}\n'''\n" for key, value in values.items()),
        encoding="utf-8",
    )


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv(templates.ENV_VAR, str(tmp_path))
    return tmp_path


def _refused(name: str) -> tuple[ValidationError | None, int, float]:
    tracemalloc.start()
    started = time.monotonic()
    try:
        render(name, {"contact": {"name": "Sam"}})
    except ValidationError as exc:
        return exc, tracemalloc.get_traced_memory()[1], time.monotonic() - started
    finally:
        tracemalloc.stop()
    return None, 0, time.monotonic() - started


@pytest.mark.parametrize(("expression", "reason"), HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_template_is_refused_quickly_naming_the_limit(folder, expression, reason):
    _write(folder, "hostile", text=expression)

    refused, peak, took = _refused("hostile")

    if reason is None:  # big but within the limits: rendered
        assert refused is None
        return
    assert refused is not None, f"{expression} was rendered"
    [why] = refused.errors
    assert why.record.startswith("e-mail template 'hostile'") and why.field == "text"
    assert why.reason.startswith("cannot be rendered: OverflowError: over a limit: ")
    assert reason in why.reason or (
        # under a slow machine the clock may stop a loop before its step count
        reason == LOOPS[1] and "took more than" in why.reason
    ), why.reason
    assert peak < PEAK_LIMIT, f"{peak / 1e6:.0f} MB"
    assert took < MAX_SECONDS + 3


@pytest.mark.parametrize("part", ["subject", "html"])
def test_the_html_part_and_subject_are_bounded_too(folder, part):
    _write(folder, "hostile", **{part: "{{ 'ab'|center(999999999999) }}"})
    refused, peak, _ = _refused("hostile")
    assert refused is not None
    [why] = refused.errors
    assert why.field == part
    assert why.reason == (
        "cannot be rendered: OverflowError: over a limit: "
        "center would make more than 100,000 characters or items"
    )
    assert peak < PEAK_LIMIT


def test_nested_loops_stop_within_the_step_budget(folder):
    _write(folder, "loops", text=LOOPS[0])
    started = time.monotonic()
    refused, _, _ = _refused("loops")
    assert refused is not None and "over a limit" in refused.errors[0].reason
    assert time.monotonic() - started < MAX_SECONDS + 3


def test_a_normal_template_still_renders(folder):
    text = (
        "Hello {{ contact.name }},\n"
        "{% for i in range(3) %}{{ i }}-{% endfor %}\n"
        "{{ '%5d'|format(3) }}|{{ 'x'|center(5) }}|{{ 'a' ~ 'b' ~ 1 }}|{{ [1, 2]|join(',') }}\n"
        "{{ '{:>4}'.format(7) }}|{{ '-' * 10 }}|{{ 2 ** 10 }}|{{ 'ab'|wordwrap(1) }}\n"
        "{{ 'line\\nline'|indent(2) }}|{{ '%s and %s' % ('a', 'b') }}|{{ 'x'.ljust(3) }}."
    )
    html = "<p>{{ contact.name ~ ' & co' }}</p>{% for x in [1, 2] %}<i>{{ x }}</i>{% endfor %}"
    _write(folder, "normal", text=text, html=html)

    done = render("normal", {"contact": {"name": "Sam <Lee>"}})

    assert done.text == (
        "Hello Sam <Lee>,\n0-1-2-\n    3|  x  |ab1|1,2\n   7|----------|1024|a\nb\n"
        "line\n  line|a and b|x  ."
    )
    assert "<p>Sam &lt;Lee&gt; &amp; co</p><i>1</i><i>2</i>" in done.html


def test_compose_refuses_a_hostile_template_naming_it(sqlite_ws, tmp_path):
    ws = sqlite_ws
    sam = ws.contacts.create(name="Sam Lee", email="sam@lee.example.com")
    _write(tmp_path / "templates", "bomb", text="{{ 'x' * 10**10 }}")
    tracemalloc.start()
    try:
        with pytest.raises(ValidationError) as refused:
            ws.mail.compose(sam["id"], "bomb")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    [why] = refused.value.errors
    assert why.record.startswith("e-mail template 'bomb'") and why.field == "text"
    assert "'*' would make more than 100,000 characters" in why.reason
    assert peak < PEAK_LIMIT
    assert ws.mail.compose(sam["id"], "follow_up")["subject"]
