"""Forms of the requester pages. They parse what people type (dollars, days, one label
per line, "qualification >= 80") into the values the services take; the services
still check every rule, and their errors are put next to the field they are about
(``ApplicationError.field``, mapped to the form's own field names)."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms

from core import limits
from core.errors import ApplicationError
from core.money import clean_dollars
from marketplace import builtin_templates
from marketplace.models import Project, TemplateKind
from marketplace.services.projects import QUALIFICATION_COMPARATORS

MAX_ASSIGNMENTS_PER_TASK = limits.MAX_ASSIGNMENTS_PER_TASK

# What a new custom template starts from: one placeholder, one answer field.
CUSTOM_STARTER = """<p>${text}</p>
<label>Your answer
  <input type="text" name="answer" required>
</label>
"""

TIER_CHOICES = [
    ("", "Anyone (no minimum tier)"),
    ("established", "Established"),
    ("expert", "Expert"),
]


# --- Parsing helpers -----------------------------------------------------------------


def cents_to_dollars(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


_QUAL_RE = re.compile(r"^(?P<name>[^<>=!]+?)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>-?[0-9]{1,10})$")


def parse_qualifications(text: str) -> list[dict[str, Any]]:
    """One requirement per line: ``name`` (must hold it), ``not name`` (must not), or
    ``name >= 80`` (score comparison with ==, !=, >, >=, <, <=)."""
    out: list[dict[str, Any]] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        match = _QUAL_RE.match(line)
        if match:
            out.append(
                {
                    "name": match["name"].strip(),
                    "comparator": match["op"],
                    "value": int(match["value"]),
                }
            )
        elif re.search(r"[<>=!]", line):
            raise forms.ValidationError(
                f"Line {number}: write “name >= 80” (a whole number after the comparison).",
                code="invalid_qualification",
            )
        elif line.lower().startswith("not "):
            out.append({"name": line[4:].strip(), "comparator": "not_exists"})
        else:
            out.append({"name": line, "comparator": "exists"})
    for q in out:
        if q["comparator"] not in QUALIFICATION_COMPARATORS or not q["name"]:
            raise forms.ValidationError("Each qualification needs a name.", code="required")
        if len(q["name"]) > limits.QUALIFICATION_NAME_CHARS:
            raise forms.ValidationError(
                f"A qualification name can be at most {limits.QUALIFICATION_NAME_CHARS} characters."
            )
    return out


def format_qualifications(items: list[dict[str, Any]]) -> str:
    lines = []
    for q in items or []:
        op = q.get("comparator", "exists")
        if op == "exists":
            lines.append(q["name"])
        elif op == "not_exists":
            lines.append(f"not {q['name']}")
        else:
            lines.append(f"{q['name']} {op} {q.get('value', '')}".strip())
    return "\n".join(lines)


# --- Project form ------------------------------------------------------------------------


def _kind_has(kind: str, setting: str) -> bool:
    if kind == TemplateKind.CUSTOM:
        return False
    if kind == TemplateKind.RESPONSE_RATING and setting in ("mode", "scale", "allow_tie"):
        return True
    if kind == TemplateKind.TRANSCRIPTION and setting == "media":
        return True
    return setting in builtin_templates.CATALOG[kind].default_config


class TemplateFieldsMixin:
    """The template part of the project form (also used alone by the draft preview)."""

    kind: str
    fields: dict[str, forms.Field]
    cleaned_data: dict[str, Any]

    def _add_template_fields(self, kind: str) -> None:
        self.kind = kind
        f = self.fields
        if kind == TemplateKind.CUSTOM:
            f["template_html"] = forms.CharField(
                label="Template HTML",
                strip=False,
                widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}),
                help_text="Form fields with name attributes; ${column} placeholders are filled from "
                "each row (HTML-escaped). The frame adds the form and the Submit button.",
            )
            return
        if _kind_has(kind, "question"):
            f["question"] = forms.CharField(
                label="Question shown to workers",
                max_length=builtin_templates.MAX_QUESTION_LENGTH,
            )
        if _kind_has(kind, "labels"):
            f["labels"] = forms.CharField(
                label="Labels (one per line)",
                widget=forms.Textarea(attrs={"rows": 5}),
                help_text="The choices workers pick from: 2 to 50, each different.",
            )
        if _kind_has(kind, "mode"):
            f["mode"] = forms.ChoiceField(
                label="Rating mode",
                choices=[
                    ("scale", "Rate one response on a scale"),
                    ("pairwise", "Compare two responses"),
                ],
                widget=forms.RadioSelect,
            )
            f["scale"] = forms.IntegerField(
                label="Scale (points)",
                min_value=builtin_templates.MIN_SCALE,
                max_value=builtin_templates.MAX_SCALE,
                required=False,
                help_text="For “rate on a scale”: 2 to 10 points.",
            )
            f["allow_tie"] = forms.BooleanField(
                label="Allow “about equally good” (pairwise)", required=False
            )
        if _kind_has(kind, "media"):
            f["media"] = forms.ChoiceField(
                label="Media",
                choices=[("audio", "Audio clip"), ("image", "Image")],
                widget=forms.RadioSelect,
            )

    def template_initial(self, config: dict[str, Any]) -> dict[str, Any]:
        initial: dict[str, Any] = {}
        for key in ("question", "mode", "scale", "allow_tie", "media"):
            if key in config:
                initial[key] = config[key]
        if "labels" in config:
            initial["labels"] = "\n".join(config["labels"])
        if self.kind == TemplateKind.RESPONSE_RATING:
            initial.setdefault("allow_tie", True)
            initial.setdefault(
                "scale", builtin_templates.CATALOG[self.kind].default_config["scale"]
            )
        return initial

    def template_config(self) -> dict[str, Any]:
        """The built-in configuration from the cleaned data (empty for custom HTML)."""
        if self.kind == TemplateKind.CUSTOM:
            return {}
        data = self.cleaned_data
        config: dict[str, Any] = {}
        if "question" in self.fields:
            config["question"] = data.get("question", "")
        if "labels" in self.fields:
            config["labels"] = [x.strip() for x in data.get("labels", "").splitlines() if x.strip()]
        if "mode" in self.fields:
            config["mode"] = data.get("mode") or "scale"
            if config["mode"] == "scale":
                config["scale"] = (
                    data.get("scale")
                    or builtin_templates.CATALOG[self.kind].default_config["scale"]
                )
            else:
                config["allow_tie"] = bool(data.get("allow_tie"))
        if "media" in self.fields:
            config["media"] = data.get("media") or "audio"
        return config

    def template_values(self) -> dict[str, Any]:
        """``template_kind``, ``template_html``, ``template_config`` for the services."""
        return {
            "template_kind": self.kind,
            "template_html": self.cleaned_data.get("template_html", "")
            if self.kind == TemplateKind.CUSTOM
            else "",
            "template_config": self.template_config(),
        }

    def template_error_field(self, exc: ApplicationError) -> str | None:
        """The form field a template/config error belongs to (from the error's field
        and, for a built-in's settings, ``extra["setting"]``)."""
        if self.kind == TemplateKind.CUSTOM:
            return "template_html"
        setting = exc.extra.get("setting")
        return setting if setting in self.fields else None


class TemplateForm(TemplateFieldsMixin, forms.Form):
    """Only the template fields (the live placeholder list and the draft preview)."""

    def __init__(self, *args: Any, kind: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._add_template_fields(kind)


class ProjectForm(TemplateFieldsMixin, forms.Form):
    title = forms.CharField(
        label="Title",
        max_length=limits.TITLE_CHARS,
        help_text="What workers see first in the task list.",
    )
    description = forms.CharField(
        label="Description",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One or two sentences about the task, shown on the task card.",
    )
    keywords = forms.CharField(
        label="Keywords",
        required=False,
        max_length=limits.KEYWORDS_CHARS,
        help_text="Comma-separated, e.g. images, animals.",
    )
    instructions = forms.CharField(
        label="Instructions",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Shown to workers above the task.",
    )
    reward = forms.CharField(
        label="Reward per assignment (USD)",
        max_length=12,
        error_messages={"required": "The reward is required."},
        widget=forms.TextInput(
            attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "0.10"}
        ),
    )
    estimated_seconds = forms.IntegerField(
        label="Estimated time per task (seconds)",
        min_value=1,
        max_value=limits.MAX_ESTIMATED_SECONDS,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        help_text="How long a careful worker needs. The reward must reach the hourly pay floor for this time.",
    )
    time_allotted_minutes = forms.IntegerField(
        label="Time allotted (minutes)",
        min_value=1,
        max_value=limits.MAX_TIME_ALLOTTED_SECONDS // 60,
        required=False,
        help_text="How long a worker may keep a task. Blank: three times the estimate, at least 5 minutes.",
    )
    assignments_per_task = forms.IntegerField(
        label="Assignments per task",
        min_value=1,
        max_value=MAX_ASSIGNMENTS_PER_TASK,
        initial=1,
        error_messages={
            "max_value": f"Assignments per task must be between 1 and {MAX_ASSIGNMENTS_PER_TASK}.",
            "min_value": f"Assignments per task must be between 1 and {MAX_ASSIGNMENTS_PER_TASK}.",
        },
        help_text="How many different workers do each task (1 to 100).",
    )
    auto_approval_days = forms.IntegerField(
        label="Auto-approval delay (days)",
        min_value=0,
        max_value=limits.MAX_AUTO_APPROVAL_DELAY.days,
        initial=limits.DEFAULT_AUTO_APPROVAL_DELAY.days,
        error_messages={"max_value": "The auto-approval delay can be at most 30 days."},
        help_text="Work you have not reviewed by then is approved and paid (0 to 30 days).",
    )
    batch_lifetime_days = forms.IntegerField(
        label="Batch lifetime (days)",
        min_value=1,
        max_value=limits.MAX_BATCH_LIFETIME.days,
        initial=limits.DEFAULT_BATCH_LIFETIME.days,
        help_text="A published batch closes after this and its unused escrow returns to you.",
    )
    gold_rate_percent = forms.DecimalField(
        label="Gold questions (% of tasks)",
        min_value=0,
        max_value=100,
        decimal_places=2,
        initial=0,
        required=False,
        help_text="Share of tasks with known answers (_gold_<field> columns) used to check quality.",
    )
    min_tier = forms.ChoiceField(label="Minimum worker tier", choices=TIER_CHOICES, required=False)
    min_approval_rate = forms.IntegerField(
        label="Minimum approval rate (%)", min_value=0, max_value=100, required=False
    )
    min_completed = forms.IntegerField(
        label="Minimum approved tasks",
        min_value=0,
        max_value=limits.MAX_MIN_COMPLETED,
        required=False,
    )
    languages = forms.CharField(
        label="Languages",
        required=False,
        max_length=200,
        help_text="Comma-separated codes, e.g. en, de.",
    )
    qualifications = forms.CharField(
        label="Qualifications (one per line)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="“name” (must hold it), “not name”, or “name >= 80”.",
    )

    # Which form field shows the error about each Project field.
    FIELD_FOR_MODEL = {
        "title": "title",
        "description": "description",
        "keywords": "keywords",
        "instructions": "instructions",
        "reward_cents": "reward",
        "estimated_seconds": "estimated_seconds",
        "time_allotted_seconds": "time_allotted_minutes",
        "assignments_per_task": "assignments_per_task",
        "auto_approval_delay": "auto_approval_days",
        "batch_lifetime": "batch_lifetime_days",
        "gold_rate_bp": "gold_rate_percent",
    }

    def __init__(self, *args: Any, kind: str, project: Project | None = None, **kwargs: Any):
        if project is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_for(project)
        super().__init__(*args, **kwargs)
        self._add_template_fields(kind)
        if project is not None:
            config = dict(project.template_config or {})
        else:
            config = (
                dict(builtin_templates.CATALOG[kind].default_config)
                if kind in builtin_templates.CATALOG
                else {}
            )
        for key, value in self.template_initial(config).items():
            self.initial.setdefault(key, value)
        if kind == TemplateKind.CUSTOM and project is None:
            self.initial.setdefault("template_html", CUSTOM_STARTER)
        self.project = project

    @classmethod
    def initial_for(cls, project: Project) -> dict[str, Any]:
        req = project.requirements or {}
        initial = {
            "title": project.title,
            "description": project.description,
            "keywords": project.keywords,
            "instructions": project.instructions,
            "reward": cents_to_dollars(project.reward_cents),
            "estimated_seconds": project.estimated_seconds,
            "time_allotted_minutes": -(-project.time_allotted_seconds // 60),
            "assignments_per_task": project.assignments_per_task,
            "auto_approval_days": round(project.auto_approval_delay / timedelta(days=1)),
            "batch_lifetime_days": max(1, round(project.batch_lifetime / timedelta(days=1))),
            "gold_rate_percent": Decimal(project.gold_rate_bp) / 100,
            "min_tier": req.get("min_tier", ""),
            "min_approval_rate": req.get("min_approval_rate"),
            "min_completed": req.get("min_completed"),
            "languages": ", ".join(req.get("languages", [])),
            "qualifications": format_qualifications(req.get("qualifications", [])),
            "template_html": project.template_html,
        }
        return initial

    def clean_reward(self) -> int:
        return clean_dollars(self.cleaned_data["reward"], what="The reward")

    def clean_qualifications(self) -> list[dict[str, Any]]:
        return parse_qualifications(self.cleaned_data.get("qualifications", ""))

    def clean_languages(self) -> list[str]:
        raw = self.cleaned_data.get("languages", "")
        return [x.strip() for x in raw.split(",") if x.strip()]

    def requirements(self) -> dict[str, Any]:
        d = self.cleaned_data
        out: dict[str, Any] = {}
        if d.get("min_tier"):
            out["min_tier"] = d["min_tier"]
        if d.get("min_approval_rate") is not None:
            out["min_approval_rate"] = d["min_approval_rate"]
        if d.get("min_completed") is not None:
            out["min_completed"] = d["min_completed"]
        if d.get("languages"):
            out["languages"] = d["languages"]
        if d.get("qualifications"):
            out["qualifications"] = d["qualifications"]
        return out

    def service_values(self) -> dict[str, Any]:
        """Every field as ``project_create`` takes it."""
        d = self.cleaned_data
        minutes = d.get("time_allotted_minutes")
        gold = d.get("gold_rate_percent") or Decimal(0)
        return {
            "title": d["title"],
            "description": d.get("description", ""),
            "keywords": d.get("keywords", ""),
            "instructions": d.get("instructions", ""),
            "reward_cents": d["reward"],
            "estimated_seconds": d["estimated_seconds"],
            "time_allotted_seconds": minutes * 60 if minutes else None,
            "assignments_per_task": d["assignments_per_task"],
            "auto_approval_delay": timedelta(days=d["auto_approval_days"]),
            "batch_lifetime": timedelta(days=d["batch_lifetime_days"]),
            "gold_rate_bp": int((gold * 100).to_integral_value()),
            "requirements": self.requirements(),
            **self.template_values(),
        }

    _FORM_TO_MODEL = {
        "reward": "reward_cents",
        "time_allotted_minutes": "time_allotted_seconds",
        "auto_approval_days": "auto_approval_delay",
        "batch_lifetime_days": "batch_lifetime",
        "gold_rate_percent": "gold_rate_bp",
    }
    _REQUIREMENT_FIELDS = (
        "min_tier",
        "min_approval_rate",
        "min_completed",
        "languages",
        "qualifications",
    )
    _TEMPLATE_FIELDS = (
        "template_html",
        "question",
        "labels",
        "mode",
        "scale",
        "allow_tie",
        "media",
    )

    def changed_values(self) -> dict[str, Any]:
        """Only what the requester changed, as ``project_update`` takes it: a value
        shown rounded (minutes, days) and left alone keeps its exact stored value."""
        values = self.service_values()
        changed = set(self.changed_data)
        data: dict[str, Any] = {}
        for name in changed:
            model_name = self._FORM_TO_MODEL.get(name, name)
            if (
                model_name in values
                and name not in self._REQUIREMENT_FIELDS + self._TEMPLATE_FIELDS
            ):
                data[model_name] = values[model_name]
        if changed & set(self._REQUIREMENT_FIELDS):
            data["requirements"] = values["requirements"]
        if changed & set(self._TEMPLATE_FIELDS):
            data.update(self.template_values())
        if "time_allotted_seconds" in data and data["time_allotted_seconds"] is None:
            data.pop("time_allotted_seconds")
        return data

    def add_service_error(self, exc: ApplicationError) -> None:
        """Show a service's error next to the field it is about: ``exc.field`` names the
        ``Project`` field; requirements and built-in settings say which one in ``extra``."""
        model_field = exc.field
        field: str | None = None
        if model_field in ("template_html", "template_config", "template_kind"):
            field = self.template_error_field(exc)
        elif model_field == "requirements":
            field = exc.extra.get("requirement")
        elif model_field is not None:
            field = self.FIELD_FOR_MODEL.get(model_field)
        if field is not None and field not in self.fields:
            field = None
        self.add_error(field, exc.message)


class BatchUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV or JSON Lines file",
        widget=forms.ClearableFileInput(
            attrs={"accept": ".csv,.jsonl,.ndjson,text/csv,application/x-ndjson"}
        ),
        error_messages={"required": "Choose a file to upload.", "empty": "The file is empty."},
        allow_empty_file=True,  # the service says "The file is empty." in its own words
    )
    name = forms.CharField(
        label="Batch name",
        max_length=limits.BATCH_NAME_CHARS,
        required=False,
        help_text="The file name is used if you leave it blank.",
    )


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        help_text="Kept in the batch history.",
        required=False,
        max_length=limits.CANCEL_REASON_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class PublishForm(forms.Form):
    expected_total_cents = forms.IntegerField(min_value=0, widget=forms.HiddenInput)


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label="Key name",
        max_length=limits.API_KEY_NAME_CHARS,
        help_text="What uses the key, e.g. “nightly upload script”.",
    )
