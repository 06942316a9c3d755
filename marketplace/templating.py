"""``${field}`` templates, in the format MTurk and Turkle requesters already have.

A template is an HTML *form fragment*: inputs, selects and textareas with ``name``
attributes, and no ``<form>`` element or submit button of its own. The work frame (a
sandboxed iframe built by the worker side) wraps it in its form, adds the submit button
and collects the answers by form field name. Values from the row are HTML-escaped on
substitution (quotes included, so they are safe inside attributes too); the template's
own HTML is the requester's and is contained by the sandbox, not by escaping.

Placeholder names are ASCII identifiers (``[A-Za-z_][A-Za-z0-9_]*``), the same rule as
MTurk's; anything else (``${ x }``, ``${a-b}``) is left as literal text.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any

from core.errors import ApplicationError

PLACEHOLDER_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
GOLD_PREFIX = "_gold_"


def placeholders(template_html: str) -> list[str]:
    """The placeholder names of ``template_html``, in order of first appearance, unique."""
    seen: dict[str, None] = {}
    for match in PLACEHOLDER_RE.finditer(template_html):
        seen.setdefault(match.group(1), None)
    return list(seen)


def value_text(value: Any) -> str:
    """How a row value reads when substituted (JSONL values need not be strings)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def render(template_html: str, row: Mapping[str, Any]) -> str:
    """``template_html`` with every ``${name}`` replaced by the row's escaped value.

    Raises ApplicationError (code ``missing_field``) naming every placeholder the row
    has no value for; upload validation makes that impossible for imported tasks.
    """
    missing = [name for name in placeholders(template_html) if name not in row]
    if missing:
        names = ", ".join(f"${{{name}}}" for name in missing)
        raise ApplicationError(
            f"The row has no value for {names}.", code="missing_field", extra={"missing": missing}
        )
    return PLACEHOLDER_RE.sub(
        lambda m: html.escape(value_text(row[m.group(1)]), quote=True), template_html
    )


def escape_literal(text: str) -> str:
    """Escape text written *into* a template (labels of a built-in, say) so that it can
    neither inject markup nor turn into a placeholder: ``$`` becomes ``&#36;``."""
    return html.escape(text, quote=True).replace("$", "&#36;")


def check_template(template_html: str) -> list[str]:
    """Validate a requester's template; returns its placeholders.

    Raises ApplicationError (code ``invalid_template``) for an empty template and for
    placeholders that would show gold answers (``${_gold_...}``) to workers.
    """
    if not template_html.strip():
        raise ApplicationError(
            "The template is empty.", code="invalid_template", field="template_html"
        )
    names = placeholders(template_html)
    gold = [n for n in names if n.startswith(GOLD_PREFIX)]
    if gold:
        raise ApplicationError(
            f"The template cannot use ${{{gold[0]}}}: {GOLD_PREFIX}… columns hold known answers that "
            "workers must not see.",
            code="invalid_template",
            field="template_html",
        )
    return names


class _FieldNames(HTMLParser):
    FIELD_TAGS = frozenset({"input", "select", "textarea"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.names: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.FIELD_TAGS:
            for key, value in attrs:
                if key == "name" and value:
                    self.names.add(value)


def field_names(task_html: str) -> frozenset[str]:
    """The names of the form fields (``input``, ``select``, ``textarea``) in a rendered
    task: the answers a submission of it may carry."""
    parser = _FieldNames()
    parser.feed(task_html)
    parser.close()
    return frozenset(parser.names)


class _PlaceholdersInText(_FieldNames):
    """``_FieldNames`` over a raw template that also counts the placeholders it meets in
    text (data, comments, script and style content), where no row value can add or
    change a field: values are HTML-escaped, so they carry no ``<``, ``>`` or quote."""

    def __init__(self) -> None:
        super().__init__()
        self.in_text = 0

    def handle_data(self, data: str) -> None:
        self.in_text += len(PLACEHOLDER_RE.findall(data))

    handle_comment = handle_data


# A placeholder right after "<" or "</" can become a tag name ("<${tag} name=…>").
_OPENS_MARKUP_RE = re.compile(r"<[/!?]?\$\{")


@lru_cache(maxsize=512)
def template_field_names(template_html: str) -> frozenset[str] | None:
    """The field names every row of ``template_html`` renders to, or None when they may
    depend on the row: a placeholder inside a tag (``name="${n}"``, ``<input ${attrs}>``,
    ``<in${x}``) or right after ``<``. Decided once per template (cached) from the raw
    template: every placeholder must be met in text and none may open markup."""
    if _OPENS_MARKUP_RE.search(template_html):
        return None
    parser = _PlaceholdersInText()
    parser.feed(template_html)
    parser.close()
    if parser.in_text != len(PLACEHOLDER_RE.findall(template_html)):
        return None
    return frozenset(parser.names)


def task_field_names(template_html: str, row: Mapping[str, Any]) -> frozenset[str]:
    """``field_names(render(template_html, row))``, without rendering and parsing each
    task when the template's field names cannot depend on its rows (the usual case:
    placeholders in text). Raises like ``render`` for a row that lacks a value."""
    html_text = render(template_html, row)
    static = template_field_names(template_html)
    return static if static is not None else field_names(html_text)


# --- Warnings: a template that saves but will not work as meant ----------------------

ANSWER_TAGS = ("input", "select", "textarea")
NOT_ANSWER_INPUT_TYPES = ("hidden", "submit", "button", "reset", "image")


class _TemplateScan(HTMLParser):
    """Collects what the warnings need: named answer fields, and scripts and
    stylesheets loaded from elsewhere."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.answer_fields: list[str] = []
        self.external_scripts: list[str] = []
        self.external_styles: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag in ANSWER_TAGS and a.get("name", "").strip():
            if tag != "input" or a.get("type", "text").lower() not in NOT_ANSWER_INPUT_TYPES:
                self.answer_fields.append(a["name"].strip())
        elif tag == "script" and a.get("src", "").strip():
            self.external_scripts.append(a["src"].strip())
        elif tag == "link" and "stylesheet" in a.get("rel", "").lower() and a.get("href"):
            self.external_styles.append(a["href"].strip())

    handle_startendtag = handle_starttag


def broken_placeholders(template_html: str) -> list[str]:
    """Each ``${`` that does not start a placeholder (``${text``, ``${ text }``,
    ``${a-b}``), as the text around it, in order; at most 5."""
    found = []
    for match in re.finditer(r"\$\{", template_html):
        if PLACEHOLDER_RE.match(template_html, match.start()):
            continue
        snippet = template_html[match.start() : match.start() + 20]
        found.append(re.split(r"[<\n]", snippet)[0])
        if len(found) == 5:
            break
    return found


def template_warnings(template_html: str) -> list[str]:
    """What is likely wrong with a requester's template although it can be saved: no
    answer fields (workers could submit nothing), text that looks like a placeholder
    but is not one (shown to workers as typed), and scripts or stylesheets from other
    sites, which the task frame's Content-Security-Policy blocks."""
    scan = _TemplateScan()
    scan.feed(template_html)
    scan.close()
    warnings = []
    if not scan.answer_fields:
        warnings.append(
            "The template has no answer fields: add an <input>, <select> or <textarea> with "
            "a name, or workers can submit nothing."
        )
    broken = broken_placeholders(template_html)
    if broken:
        shown = ", ".join(f"“{b}”" for b in broken)
        warnings.append(
            f"{shown} {'is' if len(broken) == 1 else 'are'} not "
            f"{'a placeholder' if len(broken) == 1 else 'placeholders'} and will be shown to "
            "workers as typed: a placeholder is ${name}, with a closing brace and a name of "
            "letters, digits and underscores."
        )
    for src in scan.external_scripts[:3]:
        warnings.append(
            f"The script from {src} will not run: the task frame only runs scripts written "
            "in the template itself."
        )
    for href in scan.external_styles[:3]:
        warnings.append(
            f"The stylesheet {href} will not load: the task frame only uses styles written "
            "in the template itself."
        )
    return warnings
