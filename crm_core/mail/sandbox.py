"""The sandbox user templates render in: Jinja2's, with limits on what one render may
make and spend, so that a template (a user's own, beside the workspace) cannot take the
server's memory or time. Each limit hit raises :class:`TemplateLimitError`, which the
caller reports as the template being broken, naming it and the part.

- operators ``*``, ``**``, ``+``, ``%`` and ``~`` making text or lists past
  :data:`MAX_MADE` (a join of two texts up to :data:`MAX_TEXT`), numbers past
  :data:`MAX_BITS`;
- filters and methods that grow their value (``center``, ``indent``, ``format``,
  ``ljust``, ``append`` ...) checked before they run;
- ``range`` at most :data:`MAX_RANGE` numbers; no ``lipsum``;
- a part's output at most :data:`MAX_TEXT` characters, streamed;
- :data:`MAX_STEPS` loop iterations and calls and :data:`MAX_SECONDS` per part.
"""

from __future__ import annotations

import functools
import itertools
import re
import string
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import SandboxedEnvironment

#: The most characters of one part's output, and of any one value made text.
MAX_TEXT = 1_000_000
#: The most characters (or items) one operator, filter or method may make by
#: repeating or padding: ``'x' * n``, ``center(n)``, ``'%*d'``, ...
MAX_MADE = 100_000
#: The most items of a list (or dict, set) a template builds.
MAX_ITEMS = 100_000
#: The largest number (in bits) ``*`` and ``**`` make.
MAX_BITS = 100_000
#: The most numbers ``range`` gives (the sandbox's own limit is 100,000).
MAX_RANGE = 10_000
#: The most loop iterations and calls rendering one part takes, and its longest time.
MAX_STEPS = 100_000
MAX_SECONDS = 5.0


class TemplateLimitError(OverflowError):
    """A template went over one of the limits above: the message says which. Told as
    the OverflowError it is (the sandbox's own range limit raises one)."""

    def __init__(self, why: str):
        super().__init__(f"over a limit: {why}")


class _Budget:
    """The steps and time left to the part being rendered."""

    def __init__(self) -> None:
        self.steps = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def step(self, n: int = 1) -> None:
        before = self.steps
        self.steps += n
        if self.steps > MAX_STEPS:
            raise TemplateLimitError(f"more than {MAX_STEPS:,} loop iterations and calls")
        if self.steps >> 10 != before >> 10 and time.monotonic() > self.deadline:
            raise TemplateLimitError(f"took more than {MAX_SECONDS:g} seconds")


_BUDGET: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _step(n: int = 1) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.step(n)


def _weight(value: Any) -> int:
    """About how many characters ``value`` makes as text; counting stops past
    :data:`MAX_TEXT` (a list holding one long text many times is counted as often)."""
    total = 0
    stack = [value]
    while stack and total <= MAX_TEXT:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, list | tuple | set | frozenset | dict):
            total += 2 + 2 * len(item)
            if total <= MAX_TEXT:
                stack.extend(item.items() if isinstance(item, dict) else item)
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        else:
            total += 8
    return total


def _too_big(what: str, size: int, limit: int = MAX_MADE) -> None:
    if size > limit:
        raise TemplateLimitError(f"{what} would make more than {limit:,} characters or items")


def _as_text(value: Any, what: str = "a value") -> None:
    """Refuses a value too big to be made text."""
    _too_big(what, _weight(value), MAX_TEXT)


def _width(value: Any) -> int:
    return value if isinstance(value, int) else len(str(value))


def _number(digits: str) -> int:
    """A width written in a format: its value, or one over any limit when it is long."""
    return int(digits) if len(digits) <= 9 else MAX_TEXT + 1


_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_percent(fmt: str, args: Any) -> None:
    """Refuses ``fmt % args`` that would pad past :data:`MAX_MADE` or make a text
    past :data:`MAX_TEXT`."""
    values = list(args.values()) if isinstance(args, dict) else args
    values = list(values) if isinstance(values, tuple | list) else [values]
    fields = 0
    for match in _PERCENT.finditer(fmt):
        fields += 1
        for number in match.groups():
            if number == "*":
                _too_big("a '*' width", max([0, *(v for v in values if isinstance(v, int))]))
            elif number is not None:
                _too_big(f"the width {number[:20]}", _number(number))
    _too_big("formatting", len(fmt) + fields * max([0, *map(_weight, values)]), MAX_TEXT)


def _check_format(fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """The same for ``fmt.format(*args, **kwargs)``."""
    values = [*args, *kwargs.values()]
    fields = 0
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # format() says what is wrong
    for _, field, spec, _ in parsed:
        if field is None:
            continue
        fields += 1
        if "{" in (spec or ""):
            _too_big("a nested width", max([0, *(v for v in values if isinstance(v, int))]))
        for number in re.findall(r"\d+", spec or ""):
            _too_big(f"the width {number[:20]}", _number(number))
    _too_big("formatting", len(fmt) + fields * max([0, *map(_weight, values)]), MAX_TEXT)


def _check_str_method(method: Any, args: tuple[Any, ...]) -> None:
    """Refuses a call of a text's method that would make too much text."""
    text: str = method.__self__
    name = method.__name__
    if name in ("center", "ljust", "rjust", "zfill") and args:
        _too_big(f"{name}()", _width(args[0]))
    elif name == "expandtabs":
        tab = args[0] if args and isinstance(args[0], int) else 8
        _too_big("expandtabs()", len(text) + text.count("\t") * tab)
    elif name == "replace" and len(args) >= 2:
        _check_replace(text, args[0], args[1])
    elif name == "join" and args:
        items = args[0]
        if isinstance(items, list | tuple | set | frozenset | dict | str):
            _too_big("join()", _weight(items) + len(text) * len(items), MAX_TEXT)
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max([1, *(_weight(v) for v in args[0].values())])
        _too_big("translate()", len(text) * longest)


def _check_replace(text: Any, old: Any, new: Any) -> None:
    text, old, new = str(text), str(old), str(new)
    times = text.count(old) if old else len(text) + 1
    _too_big("replace", len(text) + times * len(new), MAX_TEXT)


def _check_items(method: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Refuses growing a list, dict or set past :data:`MAX_ITEMS`; the arguments to
    call it with (an iterator of items to add read into a list)."""
    name = method.__name__
    added = 0
    if name in ("extend", "update") and args:
        items = args[0]
        if not hasattr(items, "__len__"):
            items = list(itertools.islice(items, MAX_ITEMS + 1))
            args = (items, *args[1:])
        added = len(items)
    elif name in ("append", "insert", "add", "setdefault"):
        added = 1
    _too_big(f"{name}()", len(method.__self__) + added, MAX_ITEMS)
    return args


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    try:
        too_many = len(numbers) > MAX_RANGE
    except OverflowError:  # more than sys.maxsize
        too_many = True
    if too_many:
        raise TemplateLimitError(f"a range of more than {MAX_RANGE:,} numbers")
    return numbers


def _counted(items: Any) -> Iterator[Any]:
    """A loop's items, each one a step of the budget (the filter every loop gets)."""
    for item in items:
        _step()
        yield item


@jinja2.pass_eval_context
def _concat(eval_ctx: Any, pieces: list[Any]) -> str:
    """``a ~ b``: as Jinja joins them, refused past :data:`MAX_TEXT`."""
    _as_text(pieces, "'~'")
    return markup_join(pieces) if eval_ctx.autoescape else str_join(pieces)


def _finalize(value: Any) -> Any:
    """What ``{{ ... }}`` writes: refused when too big to be made text."""
    if not isinstance(value, str):
        _as_text(value)
    return value


def _filter_check(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuses a filter call that would make too much."""
    _as_text(value, f"the input of the filter {name!r}")

    def arg(pos: int, key: str, default: Any) -> Any:
        return args[pos] if len(args) > pos else kwargs.get(key, default)

    if name == "center":
        _too_big("center", _width(arg(0, "width", 80)))
    elif name == "indent":
        lines = str(value).count("\n") + 1
        _too_big("indent", len(str(value)) + lines * _width(arg(0, "width", 4)), MAX_TEXT)
    elif name == "wordwrap":
        width = arg(0, "width", 79)
        wrap = arg(2, "wrapstring", None) or "\n"
        breaks = len(str(value)) // max(1, width if isinstance(width, int) else 1) + 1
        _too_big("wordwrap", len(str(value)) + breaks * len(str(wrap)), MAX_TEXT)
    elif name == "format":
        _check_percent(str(value), kwargs or args)
    elif name == "replace":
        _check_replace(value, arg(0, "old", ""), arg(1, "new", ""))
    elif name in ("batch", "slice"):
        _too_big(name, _width(arg(0, "linecount" if name == "batch" else "slices", 1)), MAX_ITEMS)
    elif name == "join":
        items = list(value) if not isinstance(value, str) else value
        sep = str(arg(0, "d", ""))
        _too_big("join", _weight(items) + len(sep) * len(items), MAX_TEXT)
    elif name == "sum":
        _too_big("sum", _weight(value) + _weight(arg(1, "start", 0)), MAX_TEXT)
    elif name == "tojson":
        indent = arg(0, "indent", None)
        _too_big("the indent of tojson", _width(indent) if indent is not None else 0, 100)
    elif name == "truncate":
        _too_big("the end of truncate", len(str(arg(2, "end", "..."))))


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    passes = getattr(func, "jinja_pass_arg", None) is not None

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _step()
        first = 1 if passes else 0
        if len(args) > first:
            _filter_check(name, args[first], args[first + 1 :], kwargs)
        return func(*args, **kwargs)

    return bounded


class BoundedSandbox(SandboxedEnvironment):
    """Jinja2's sandbox with the limits of this module."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any):
        super().__init__(finalize=_finalize, **options)
        self.filters = {k: _bounded_filter(k, f) for k, f in self.filters.items()}
        self.filters["_counted"] = _counted
        self.filters["_concat"] = _concat
        self.globals["range"] = _bounded_range
        self.globals.pop("lipsum", None)  # lipsum(10**9)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """The template, each loop's items counted (:func:`_counted`) and each ``~``
        bounded (:func:`_concat`)."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, "_counted", [], [], None, None, lineno=loop.lineno)
        for parent in list(tree.find_all(nodes.Node)):
            for field, child in parent.iter_fields():
                if isinstance(child, nodes.Concat):
                    setattr(parent, field, _bounded_concat(child))
                elif isinstance(child, list):
                    child[:] = [
                        _bounded_concat(c) if isinstance(c, nodes.Concat) else c for c in child
                    ]
        return tree

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _step()
        if operator == "*":
            _check_times(left, right)
            _check_times(right, left)
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
                _too_big("'**'", abs(left).bit_length() * right, MAX_BITS)
        elif operator == "+":
            if isinstance(left, str) and isinstance(right, str):
                _too_big("'+'", len(left) + len(right), MAX_TEXT)
            elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
                _too_big("'+'", len(left) + len(right), MAX_ITEMS)
        elif operator == "%" and isinstance(left, str):
            _check_percent(left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _step()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str) and hasattr(__obj, "__name__"):
            _check_str_method(__obj, args)
        elif isinstance(owner, list | dict | set) and hasattr(__obj, "__name__"):
            args = _check_items(__obj, args)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt: str = value.__self__
        is_map = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_map and len(args) == 1 and isinstance(args[0], dict):
                _check_format(fmt, (), args[0])
            else:
                _check_format(fmt, args, kwargs)
            return wrapped(*args, **kwargs)

        return bounded


def _bounded_concat(node: nodes.Concat) -> nodes.Filter:
    return nodes.Filter(
        nodes.List(node.nodes, lineno=node.lineno),
        "_concat",
        [],
        [],
        None,
        None,
        lineno=node.lineno,
    )


def _check_times(seq: Any, times: Any) -> None:
    if not isinstance(times, int):
        return
    if isinstance(seq, int) and not isinstance(seq, bool):
        _too_big("'*'", abs(seq).bit_length() + abs(times).bit_length(), MAX_BITS)
    elif times <= 1:
        return
    elif isinstance(seq, str):
        _too_big("'*'", len(seq) * times)
    elif isinstance(seq, list | tuple):
        _too_big("'*'", len(seq) * times, MAX_ITEMS)


def render_bounded(template: jinja2.Template, values: dict[str, Any]) -> str:
    """``template`` rendered within the budget, its output at most :data:`MAX_TEXT`."""
    token = _BUDGET.set(_Budget())
    try:
        pieces: list[str] = []
        size = 0
        for piece in template.generate(values):
            size += len(piece)
            if size > MAX_TEXT:
                raise TemplateLimitError(f"more than {MAX_TEXT:,} characters of output")
            pieces.append(piece)
        return "".join(pieces)
    finally:
        _BUDGET.reset(token)
