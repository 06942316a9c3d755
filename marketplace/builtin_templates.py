"""Built-in task templates.

Each built-in is a plain-HTML form fragment (see ``marketplace.templating``) with
``${field}`` placeholders for the row's values and named form fields for the answers;
its configuration (the label set, the scale, pairwise or not) is written into the HTML
when the project is saved, escaped so that a label can never become markup or a
placeholder. No scripts, no external resources: the work frame is sandboxed.

``get(kind, config)`` returns the HTML; ``normalize_config(kind, config)`` validates a
configuration and fills in defaults; ``sample_row(kind, config)`` gives the row the
preview renders; ``CATALOG`` describes each kind for the template picker.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from core import limits
from core.errors import ApplicationError
from core.text import clean_text
from marketplace.models import TemplateKind
from marketplace.templating import escape_literal

MAX_LABELS = limits.MAX_LABELS
MAX_LABEL_LENGTH = limits.LABEL_CHARS
MAX_QUESTION_LENGTH = limits.QUESTION_CHARS
MIN_SCALE, MAX_SCALE = limits.MIN_SCALE, limits.MAX_SCALE


@dataclass(frozen=True)
class BuiltinKind:
    key: str
    title: str
    description: str
    fields: tuple[str, ...]  # the placeholders (columns) the default configuration needs
    answer_fields: tuple[str, ...]  # the form field names answers arrive under
    default_config: dict[str, Any] = field(default_factory=dict)


CATALOG: dict[str, BuiltinKind] = {
    k.key: k
    for k in (
        BuiltinKind(
            TemplateKind.IMAGE_CLASSIFICATION,
            "Image classification",
            "Show an image; the worker picks one label from your label set.",
            ("image_url",),
            ("label",),
            {"labels": ["Cat", "Dog", "Neither"], "question": "Which label fits this image best?"},
        ),
        BuiltinKind(
            TemplateKind.TEXT_CLASSIFICATION,
            "Text classification",
            "Show a text; the worker picks one label from your label set.",
            ("text",),
            ("label",),
            {
                "labels": ["Question", "Complaint", "Praise", "Other"],
                "question": "Which category fits this text?",
            },
        ),
        BuiltinKind(
            TemplateKind.SENTIMENT,
            "Sentiment",
            "Show a text; the worker rates its sentiment.",
            ("text",),
            ("sentiment",),
            {
                "labels": ["Negative", "Neutral", "Positive"],
                "question": "What is the sentiment of this text?",
            },
        ),
        BuiltinKind(
            TemplateKind.RELEVANCE,
            "Relevance judgment",
            "Show a search query and a result; the worker judges how relevant the result is.",
            ("query", "result"),
            ("relevance",),
            {
                "labels": ["Not relevant", "Somewhat relevant", "Highly relevant"],
                "question": "How relevant is the result to the query?",
            },
        ),
        BuiltinKind(
            TemplateKind.RESPONSE_RATING,
            "Response rating",
            "Show a prompt and one response to rate on a scale, or two responses to compare.",
            ("prompt", "response"),
            ("rating", "comment"),
            {"mode": "scale", "scale": 5, "question": "How good is the response to the prompt?"},
        ),
        BuiltinKind(
            TemplateKind.TRANSCRIPTION,
            "Free-text transcription",
            "Play an audio clip or show an image; the worker types what it says.",
            ("media_url",),
            ("transcript",),
            {"media": "audio", "question": "Type exactly what you hear."},
        ),
    )
}

_LABEL_KINDS = {
    TemplateKind.IMAGE_CLASSIFICATION,
    TemplateKind.TEXT_CLASSIFICATION,
    TemplateKind.SENTIMENT,
    TemplateKind.RELEVANCE,
}


def is_builtin(kind: str) -> bool:
    return kind in CATALOG


# The form field each setting is edited in (ApplicationError.field), so that the page
# shows the message next to it; the API reports them all under template_config.
SETTING_FIELDS = ("question", "labels", "mode", "scale", "allow_tie", "media")


def _invalid(message: str, setting: str | None = None) -> ApplicationError:
    return ApplicationError(
        message,
        code="invalid_template_config",
        field="template_config",
        extra={"setting": setting} if setting else None,
    )


def _question(config: Mapping[str, Any], default: str) -> str:
    try:
        return clean_text(
            config.get("question", default),
            label="The question",
            maximum=MAX_QUESTION_LENGTH,
            required=True,
        )
    except ApplicationError as exc:
        raise _invalid(exc.message, "question") from None


def _labels(config: Mapping[str, Any], default: list[str]) -> list[str]:
    labels = config.get("labels", default)
    if isinstance(labels, str):  # a form field may send "a, b, c" or one label per line
        labels = [p for p in (x.strip() for x in labels.replace("\n", ",").split(",")) if p]
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise _invalid("The labels must be a list of texts.", "labels")
    if not 2 <= len(labels) <= MAX_LABELS:
        raise _invalid(f"Give between 2 and {MAX_LABELS} labels; got {len(labels)}.", "labels")
    try:
        labels = [
            clean_text(x, label="A label", maximum=MAX_LABEL_LENGTH, required=True) for x in labels
        ]
    except ApplicationError as exc:
        message = "A label cannot be empty." if exc.code == "required" else exc.message
        raise _invalid(message, "labels") from None
    if len({x.casefold() for x in labels}) != len(labels):
        raise _invalid("Each label must be different.", "labels")
    return labels


def normalize_config(kind: str, config: Mapping[str, Any] | None) -> dict[str, Any]:
    """A complete, validated configuration for built-in ``kind`` (defaults filled in).

    Raises ApplicationError (code ``invalid_template_config``) with a message for the
    field at fault; unknown keys are refused so that a typo is not silently ignored.
    """
    if kind not in CATALOG:
        raise ApplicationError(
            f"Unknown template type {str(kind)[:40]!r}.",
            code="invalid_template_kind",
            field="template_kind",
        )
    config = dict(config or {})
    default = CATALOG[kind].default_config
    allowed = set(default) | ({"allow_tie"} if kind == TemplateKind.RESPONSE_RATING else set())
    unknown = sorted(str(k) for k in set(config) - allowed)
    if unknown:
        raise _invalid(f"Unknown setting {unknown[0][:40]!r} for this template type.")
    out: dict[str, Any] = {"question": _question(config, default["question"])}
    if kind in _LABEL_KINDS:
        out["labels"] = _labels(config, default["labels"])
    elif kind == TemplateKind.RESPONSE_RATING:
        mode = config.get("mode", "scale")
        if mode not in ("scale", "pairwise"):
            raise _invalid(
                "The mode must be 'scale' (rate one response) or 'pairwise' (compare two).",
                "mode",
            )
        out["mode"] = mode
        if mode == "scale":
            scale = config.get("scale", default["scale"])
            if isinstance(scale, str) and scale.strip().isdigit():
                scale = int(scale)
            if (
                not isinstance(scale, int)
                or isinstance(scale, bool)
                or not MIN_SCALE <= scale <= MAX_SCALE
            ):
                raise _invalid(
                    f"The scale must be a whole number from {MIN_SCALE} to {MAX_SCALE}.", "scale"
                )
            out["scale"] = scale
        else:
            out["allow_tie"] = bool(config.get("allow_tie", True))
            if "question" not in config:
                out["question"] = "Which response answers the prompt better?"
    elif kind == TemplateKind.TRANSCRIPTION:
        media = config.get("media", "audio")
        if media not in ("audio", "image"):
            raise _invalid("The media type must be 'audio' or 'image'.", "media")
        out["media"] = media
        if "question" not in config and media == "image":
            out["question"] = "Type exactly the text you see."
    return out


def answer_fields(kind: str, config: Mapping[str, Any]) -> list[str]:
    """Form field names the answers of a built-in arrive under."""
    if kind == TemplateKind.RESPONSE_RATING and config.get("mode") == "pairwise":
        return ["preference", "comment"]
    return list(CATALOG[kind].answer_fields)


_STYLE = (
    "<style>"
    ".ft-task{font-family:system-ui,sans-serif;max-width:48rem;line-height:1.5}"
    ".ft-task img,.ft-task audio{max-width:100%}"
    ".ft-task fieldset{border:1px solid #ccc;border-radius:.4rem;margin:1rem 0;padding:.5rem 1rem}"
    ".ft-task legend{font-weight:600}"
    ".ft-task label{display:block;padding:.25rem 0}"
    ".ft-task .ft-text{white-space:pre-wrap;background:#f6f6f6;padding:.75rem;border-radius:.4rem}"
    ".ft-task .ft-pair{display:grid;grid-template-columns:1fr 1fr;gap:1rem}"
    ".ft-task textarea{width:100%;min-height:6rem}"
    "</style>\n"
)


def _choices(name: str, question: str, options: list[tuple[str, str]]) -> str:
    """A required radio group; ``options`` are (value, label) pairs."""
    items = "\n".join(
        f'    <label><input type="radio" name="{name}" value="{escape_literal(value)}" required> '
        f"{escape_literal(label)}</label>"
        for value, label in options
    )
    return (
        f"  <fieldset>\n    <legend>{escape_literal(question)}</legend>\n{items}\n  </fieldset>\n"
    )


def _labels_group(name: str, config: Mapping[str, Any]) -> str:
    return _choices(name, config["question"], [(label, label) for label in config["labels"]])


def get(kind: str, config: Mapping[str, Any] | None = None) -> str:
    """The HTML of built-in ``kind`` with ``config`` (validated by ``normalize_config``)."""
    cfg = normalize_config(kind, config)
    body: str
    if kind == TemplateKind.IMAGE_CLASSIFICATION:
        body = '  <p><img src="${image_url}" alt="The image to classify"></p>\n' + _labels_group(
            "label", cfg
        )
    elif kind == TemplateKind.TEXT_CLASSIFICATION:
        body = '  <div class="ft-text">${text}</div>\n' + _labels_group("label", cfg)
    elif kind == TemplateKind.SENTIMENT:
        body = '  <div class="ft-text">${text}</div>\n' + _labels_group("sentiment", cfg)
    elif kind == TemplateKind.RELEVANCE:
        body = (
            '  <p><strong>Query:</strong> <span class="ft-query">${query}</span></p>\n'
            '  <p><strong>Result:</strong></p>\n  <div class="ft-text">${result}</div>\n'
            + _labels_group("relevance", cfg)
        )
    elif kind == TemplateKind.RESPONSE_RATING:
        body = '  <p><strong>Prompt:</strong></p>\n  <div class="ft-text">${prompt}</div>\n'
        if cfg["mode"] == "scale":
            scale = cfg["scale"]
            options = [
                (str(i), f"{i}" + (" (worst)" if i == 1 else " (best)" if i == scale else ""))
                for i in range(1, scale + 1)
            ]
            body += (
                '  <p><strong>Response:</strong></p>\n  <div class="ft-text">${response}</div>\n'
            )
            body += _choices("rating", cfg["question"], options)
        else:
            body += (
                '  <div class="ft-pair">\n'
                '    <div><p><strong>Response A</strong></p><div class="ft-text">${response_a}</div></div>\n'
                '    <div><p><strong>Response B</strong></p><div class="ft-text">${response_b}</div></div>\n'
                "  </div>\n"
            )
            options = [("a", "Response A is better"), ("b", "Response B is better")]
            if cfg["allow_tie"]:
                options.append(("tie", "They are about equally good"))
            body += _choices("preference", cfg["question"], options)
        body += '  <label>Comment (optional)\n    <textarea name="comment" maxlength="2000"></textarea>\n  </label>\n'
    elif kind == TemplateKind.TRANSCRIPTION:
        if cfg["media"] == "audio":
            media = '  <p><audio controls preload="metadata" src="${media_url}"></audio></p>\n'
        else:
            media = '  <p><img src="${media_url}" alt="The image to transcribe"></p>\n'
        body = media + (
            f"  <label>{escape_literal(cfg['question'])}\n"
            '    <textarea name="transcript" required maxlength="20000"></textarea>\n  </label>\n'
        )
    else:  # pragma: no cover - normalize_config refused it already
        raise ApplicationError(
            f"Unknown template type {str(kind)[:40]!r}.",
            code="invalid_template_kind",
            field="template_kind",
        )
    return f'{_STYLE}<div class="ft-task ft-{kind}">\n{body}</div>\n'


def _svg_data_uri(text: str, *, width: int = 320, height: int = 120) -> str:
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        f'<rect width="100%" height="100%" fill="#e8eef7"/>'
        f'<text x="50%" y="55%" font-family="sans-serif" font-size="22" text-anchor="middle">{escape_literal(text)}</text>'
        "</svg>"
    )
    return "data:image/svg+xml," + quote(svg)


def _silent_wav_data_uri(seconds: float = 0.5, rate: int = 8000) -> str:
    frames = int(seconds * rate)
    data = b"\x80" * frames  # 8-bit unsigned PCM silence
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + len(data))
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate, 1, 8)
        + b"data"
        + struct.pack("<I", len(data))
    )
    return "data:audio/wav;base64," + base64.b64encode(header + data).decode()


def image_data_uri(text: str) -> str:
    """An inline SVG showing ``text`` (samples and demo data work offline)."""
    return _svg_data_uri(text)


def sample_row(kind: str, config: Mapping[str, Any] | None = None) -> dict[str, str]:
    """A row the preview renders for built-in ``kind`` (inline media: no network)."""
    cfg = normalize_config(kind, config)
    if kind == TemplateKind.IMAGE_CLASSIFICATION:
        return {"image_url": _svg_data_uri("A sample image")}
    if kind in (TemplateKind.TEXT_CLASSIFICATION, TemplateKind.SENTIMENT):
        return {
            "text": "The parcel arrived two days late, but the support team was really helpful."
        }
    if kind == TemplateKind.RELEVANCE:
        return {
            "query": "how to repot a cactus",
            "result": "Repotting cacti: wear thick gloves, loosen the root ball and use a gritty, fast-draining mix.",
        }
    if kind == TemplateKind.RESPONSE_RATING:
        prompt = "Explain in one sentence why the sky is blue."
        if cfg["mode"] == "pairwise":
            return {
                "prompt": prompt,
                "response_a": "Air molecules scatter short (blue) wavelengths of sunlight more than long ones.",
                "response_b": "Because it reflects the ocean.",
            }
        return {
            "prompt": prompt,
            "response": "Air scatters blue light more than red light (Rayleigh scattering).",
        }
    if kind == TemplateKind.TRANSCRIPTION:
        if cfg["media"] == "image":
            return {"media_url": _svg_data_uri("the quick brown fox")}
        return {"media_url": _silent_wav_data_uri()}
    raise ApplicationError(f"Unknown template type {kind!r}.", code="invalid_template_kind")
