"""``${field}`` templates and the built-in templates."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ApplicationError
from marketplace import builtin_templates, templating
from marketplace.models import TemplateKind

BUILTINS = [k for k in TemplateKind.values if k != TemplateKind.CUSTOM]


def test_placeholders_are_ordered_unique_identifiers():
    html = '<img src="${image_url}"> ${label} ${image_url} ${ spaced } ${a-b} ${_x1} $label ${9bad} ${Ünï}'
    assert templating.placeholders(html) == ["image_url", "label", "_x1"]


def test_render_escapes_values_in_text_and_attributes():
    html = "<a href=\"${url}\" title='${url}'>${text}</a>"
    out = templating.render(
        html, {"url": 'x" onmouseover="alert(1)\'', "text": "<script>alert(1)</script> & co"}
    )
    assert out == (
        "<a href=\"x&quot; onmouseover=&quot;alert(1)&#x27;\" title='x&quot; onmouseover=&quot;alert(1)&#x27;'>"
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</a>"
    )


def test_render_does_not_substitute_twice():
    # A value that looks like a placeholder stays literal text.
    assert templating.render("${a}|${b}", {"a": "${b}", "b": "B"}) == "${b}|B"


def test_render_json_values():
    html = "${s}|${n}|${f}|${t}|${z}|${o}"
    row = {"s": "x", "n": 3, "f": 1.5, "t": True, "z": None, "o": {"k": ["é"]}}
    assert templating.render(html, row) == "x|3|1.5|true||{&quot;k&quot;: [&quot;é&quot;]}"


def test_render_names_every_missing_field():
    with pytest.raises(ApplicationError) as exc:
        templating.render("${a} ${b} ${c}", {"b": 1})
    assert exc.value.message == "The row has no value for ${a}, ${c}."
    assert exc.value.code == "missing_field"
    assert exc.value.extra == {"missing": ["a", "c"]}


def test_check_template_refuses_gold_placeholders_and_empty():
    with pytest.raises(ApplicationError, match=r"cannot use \$\{_gold_label\}"):
        templating.check_template("<p>${text}</p> ${_gold_label}")
    with pytest.raises(ApplicationError, match="The template is empty."):
        templating.check_template("  \n")
    assert templating.check_template("<p>${text}</p>") == ["text"]


@pytest.mark.parametrize("kind", BUILTINS)
def test_every_builtin_renders_its_sample_row_as_a_plain_form_fragment(kind):
    html = builtin_templates.get(kind, None)
    row = builtin_templates.sample_row(kind, None)
    assert set(templating.placeholders(html)) == set(row)
    rendered = templating.render(html, row)
    assert "${" not in rendered
    # No scripts, no <form> of its own, no external resources (it runs sandboxed).
    assert "<script" not in rendered.lower() and "<form" not in rendered.lower()
    assert not re.search(r"""(src|href)=["']https?:""", rendered)
    config = builtin_templates.normalize_config(kind, None)
    for name in builtin_templates.answer_fields(kind, config):
        assert f'name="{name}"' in html


def test_label_set_is_rendered_escaped_and_cannot_become_a_placeholder():
    html = builtin_templates.get(
        TemplateKind.IMAGE_CLASSIFICATION,
        {"labels": ["<b>Cat</b>", "${image_url}x", 'say "hi"'], "question": "Pick $1"},
    )
    assert (
        '<input type="radio" name="label" value="&lt;b&gt;Cat&lt;/b&gt;" required> &lt;b&gt;Cat&lt;/b&gt;'
        in html
    )
    assert "&#36;{image_url}x" in html
    assert 'value="say &quot;hi&quot;"' in html
    assert "<legend>Pick &#36;1</legend>" in html
    assert templating.placeholders(html) == ["image_url"]


def test_response_rating_scale_and_pairwise():
    scale = builtin_templates.get(TemplateKind.RESPONSE_RATING, {"mode": "scale", "scale": 7})
    assert templating.placeholders(scale) == ["prompt", "response"]
    assert scale.count('name="rating"') == 7 and 'value="7"' in scale
    pairwise = builtin_templates.get(
        TemplateKind.RESPONSE_RATING, {"mode": "pairwise", "allow_tie": False}
    )
    assert templating.placeholders(pairwise) == ["prompt", "response_a", "response_b"]
    assert 'value="a"' in pairwise and 'value="b"' in pairwise and 'value="tie"' not in pairwise


def test_transcription_media_kinds():
    assert "<audio" in builtin_templates.get(TemplateKind.TRANSCRIPTION, {"media": "audio"})
    image = builtin_templates.get(TemplateKind.TRANSCRIPTION, {"media": "image"})
    assert "<img" in image and 'name="transcript"' in image


@pytest.mark.parametrize(
    ("kind", "config", "message"),
    [
        (
            TemplateKind.TEXT_CLASSIFICATION,
            {"labels": ["Only one"]},
            "Give between 2 and 50 labels; got 1.",
        ),
        (TemplateKind.TEXT_CLASSIFICATION, {"labels": ["A", "a"]}, "Each label must be different."),
        (TemplateKind.TEXT_CLASSIFICATION, {"labels": ["A", " "]}, "A label cannot be empty."),
        (
            TemplateKind.SENTIMENT,
            {"colour": "red"},
            "Unknown setting 'colour' for this template type.",
        ),
        (
            TemplateKind.RESPONSE_RATING,
            {"scale": 11},
            "The scale must be a whole number from 2 to 10.",
        ),
        (
            TemplateKind.RESPONSE_RATING,
            {"mode": "triple"},
            "The mode must be 'scale' (rate one response) or 'pairwise' (compare two).",
        ),
        (
            TemplateKind.TRANSCRIPTION,
            {"media": "video"},
            "The media type must be 'audio' or 'image'.",
        ),
        ("poetry", {}, "Unknown template type 'poetry'."),
    ],
)
def test_invalid_configs(kind, config, message):
    with pytest.raises(ApplicationError) as exc:
        builtin_templates.normalize_config(kind, config)
    assert exc.value.message == message


def test_labels_may_come_as_text_from_a_form():
    assert builtin_templates.normalize_config(
        TemplateKind.TEXT_CLASSIFICATION, {"labels": "Yes, No\nMaybe"}
    )["labels"] == [
        "Yes",
        "No",
        "Maybe",
    ]


# --- Warnings on templates that save but will not work as meant ------------------------


def test_a_template_without_answer_fields_is_warned_about():
    from marketplace.templating import template_warnings

    (warning,) = template_warnings("<p>${text}</p><button>OK</button><input type=hidden name=x>")
    assert warning.startswith("The template has no answer fields")
    assert template_warnings('<p>${text}</p><input name="answer">') == []
    assert template_warnings("<p>${text}</p><select name=s><option>a</select>") == []
    assert template_warnings("<textarea name=t></textarea>") == []


def test_broken_placeholders_are_named():
    from marketplace.templating import broken_placeholders, template_warnings

    html = '<p>${text</p><p>${ other }</p><p>${ok}</p><input name="a">'
    assert broken_placeholders(html) == ["${text", "${ other }"]
    (warning,) = template_warnings('<p>${text</p><input name="a">')
    assert warning.startswith("“${text” is not a placeholder")
    assert broken_placeholders("<p>${a} costs &#36;{b}</p>") == []


def test_scripts_and_stylesheets_from_elsewhere_are_warned_about():
    from marketplace.templating import template_warnings

    html = (
        '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>'
        '<link rel="stylesheet" href="https://cdn.example/s.css">'
        "<script>document.title = 'inline is fine';</script>"
        '<input name="a">'
    )
    assert template_warnings(html) == [
        "The script from https://assets.crowd.aws/crowd-html-elements.js will not run: the "
        "task frame only runs scripts written in the template itself.",
        "The stylesheet https://cdn.example/s.css will not load: the task frame only uses "
        "styles written in the template itself.",
    ]


# --- Field names decided once per template ---------------------------------------------

_FRAGMENTS = [
    '<input name="a">',
    "<input name=b>",
    '<select name="s"><option>${x}</option></select>',
    '<textarea name="t">${y}</textarea>',
    '<input name="${x}">',
    "<input name=${y}>",
    "<input ${x}>",
    "<${x} name=c>",
    "</${y}>",
    '<in${x} name="d">',
    "<p>${x}</p>",
    "${y}",
    " text ",
    "<!-- ${x} -->",
    "<!--",
    "-->",
    "<script>",
    "</script>",
    "<style>${y}</style>",
    "&",
    "&amp;",
    "<",
    ">",
    '"',
    "<![CDATA[${x}]]>",
    "<?${y}?>",
    "<div title='${x}'>",
]
_VALUES = [
    "",
    "input",
    "script",
    "a",
    "input name=z",
    'x" name="q',
    "<input name=w>",
    "&lt;",
    "-->",
]


@given(
    parts=st.lists(st.sampled_from(_FRAGMENTS), max_size=8),
    rows=st.lists(
        st.fixed_dictionaries({"x": st.sampled_from(_VALUES), "y": st.sampled_from(_VALUES)}),
        min_size=1,
        max_size=4,
    ),
)
@settings(max_examples=400, deadline=None, database=None)
def test_a_templates_own_field_names_are_those_of_every_row_it_renders(parts, rows):
    """When ``template_field_names`` says a template's field names do not depend on its
    rows, rendering any row and parsing it gives exactly those names; when it cannot
    tell, it says None (and the submit parses each rendered task)."""
    template = "".join(parts)
    static = templating.template_field_names(template)
    for row in rows:
        rendered = templating.field_names(templating.render(template, row))
        assert templating.task_field_names(template, row) == rendered
        if static is not None:
            assert static == rendered, (template, row)


@pytest.mark.parametrize(
    ("template", "static"),
    [
        ('<p>${text}</p><input name="label" value="A">', frozenset({"label"})),
        ('<img src="${url}"><input name="label">', None),  # in a tag: parsed per row
        ('<input name="q_${n}">', None),
        ("<${tag} name=x>", None),
        ("<script>var t = '${text}';</script><textarea name=t></textarea>", frozenset({"t"})),
    ],
)
def test_which_templates_have_row_independent_field_names(template, static):
    assert templating.template_field_names(template) == static


def test_task_field_names_still_refuses_a_row_without_a_value():
    with pytest.raises(ApplicationError) as caught:
        templating.task_field_names("<p>${text}</p><input name=a>", {})
    assert caught.value.code == "missing_field"
