"""HTML with escaping by default: `html(template, **values)` escapes every value that is not already `Markup`."""

from __future__ import annotations

import html as _html
import string


class Markup(str):
    """Text that is already HTML (a rendered fragment); `html()` puts it in as it is."""


def escape(value) -> Markup:
    """`value` as HTML text: `<`, `>`, `&` and both quotes escaped; Markup passes through; None is empty."""
    if isinstance(value, Markup):
        return value
    return Markup(_html.escape("" if value is None else str(value), quote=True))


class _Escaping(string.Formatter):
    def format_field(self, value, format_spec: str) -> str:
        if isinstance(value, Markup):
            return value
        if isinstance(value, (list, tuple)):
            return "".join(escape(item) for item in value)
        return escape(format(value, format_spec))


_FORMATTER = _Escaping()


def html(template: str, /, **values) -> Markup:
    """Fill the literal HTML `template`'s `{name}` fields; every value is escaped unless it is Markup
    (a list of values is joined, each escaped). Attribute values in the template must be quoted."""
    return Markup(_FORMATTER.format(template, **values))


def join(fragments, separator: str = "") -> Markup:
    """Rendered fragments (or plain values, escaped) joined into one."""
    return Markup(escape(separator).join(escape(fragment) for fragment in fragments))
