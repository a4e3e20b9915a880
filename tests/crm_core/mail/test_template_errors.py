"""A user's template whose own expression fails is refused naming the template and the
part, as a syntax error is: it printed a traceback (ZeroDivisionError, the sandbox's
OverflowError on range(10**9))."""

from __future__ import annotations

import pytest

from crm_core.errors import ValidationError


@pytest.mark.parametrize(
    ("expression", "error"),
    [("{{ 1/0 }}", "ZeroDivisionError"), ("{{ range(10**9) | list }}", "OverflowError")],
)
def test_a_template_that_fails_when_rendered_is_refused_naming_it(
    sqlite_ws, tmp_path, expression, error
):
    ws = sqlite_ws
    sam = ws.contacts.create(name="Sam Lee", email="sam@lee.example.com")
    folder = tmp_path / "templates" / "email" / "broken"
    folder.mkdir(parents=True)
    (folder / "en.toml").write_text(f'subject = "Hi"\ntext = "{expression}"\nhtml = "h"\n')
    with pytest.raises(ValidationError) as refused:
        ws.mail.compose(sam["id"], "broken")
    [why] = refused.value.errors
    assert why.record.startswith("e-mail template 'broken'") and why.field == "text"
    assert why.reason.startswith(f"cannot be rendered: {error}")
