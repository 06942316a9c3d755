"""Demo data of the requester side: one project per built-in template, each with a
published batch. ``seed_demo`` calls ``seed_requester_demo``; it goes through the same
services as a requester would (``project_create``, ``batch_upload``, ``batch_publish``).

Money: the requesters are taken as already funded (funding goes through Stripe, which
is another part's job). A batch is published only if the balance covers it; otherwise
it stays a draft and a later run, after funding, publishes it. Idempotent: projects are
found by owner and title, and each project gets one demo batch.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from marketplace import builtin_templates, services
from marketplace.models import Batch, BatchStatus, Project, TemplateKind, User
from marketplace.selectors import batch_quote


@dataclass(frozen=True)
class DemoProject:
    kind: str
    title: str
    description: str
    config: dict[str, Any]
    reward_cents: int
    estimated_seconds: int
    assignments_per_task: int
    rows: list[dict[str, str]]
    keywords: str = ""


def _image_rows() -> list[dict[str, str]]:
    subjects = [
        "A cat",
        "A dog",
        "A teapot",
        "A cat asleep",
        "A dog running",
        "A bicycle",
        "A kitten",
        "A puppy",
    ]
    gold = {0: "Cat", 1: "Dog", 2: "Neither"}
    return [
        {
            "image_url": builtin_templates.image_data_uri(s),
            "photo_id": f"img-{i:03d}",
            "_gold_label": gold.get(i, ""),
        }
        for i, s in enumerate(subjects)
    ]


TICKETS = [
    "How do I change the email address on my account?",
    "I was charged twice for the same order and nobody answers my emails.",
    "Your support team sorted out my problem in five minutes. Thank you!",
    "Is there a student discount?",
    "The app crashes every time I open the settings page.",
    "Great service, the parcel arrived a day early.",
    "Can I pay by bank transfer?",
    "The replacement part is the wrong size, again.",
]
REVIEWS = [
    "Absolutely loved it, would buy again.",
    "It broke after two days. Waste of money.",
    "Does what it says. Nothing special.",
    "The colour is nicer than in the photos!",
    "Arrived late and the box was damaged.",
    "Fine for the price.",
    "Best purchase I've made this year.",
    "Customer service never replied.",
]
RELEVANCE = [
    (
        "how to repot a cactus",
        "Repotting cacti: wear thick gloves, loosen the root ball, use a gritty mix.",
    ),
    ("how to repot a cactus", "Cactus Jack's BBQ: opening hours and menu."),
    (
        "python read csv",
        "csv — CSV File Reading and Writing: the csv module implements classes to read and write tabular data.",
    ),
    ("python read csv", "Pythons are non-venomous snakes found in Africa, Asia and Australia."),
    (
        "best time to visit lisbon",
        "Spring (March to May) brings mild weather and fewer crowds to Lisbon.",
    ),
    ("best time to visit lisbon", "Lisbon travel insurance: compare quotes."),
]
PAIRS = [
    (
        "Explain in one sentence why the sky is blue.",
        "Air molecules scatter short (blue) wavelengths of sunlight much more than long ones.",
        "Because it reflects the ocean.",
    ),
    (
        "Give a synonym for 'happy'.",
        "Sad.",
        "Joyful.",
    ),
    (
        "What is 12 × 12?",
        "144.",
        "12 × 12 is 124.",
    ),
    (
        "Suggest a name for a grey cat.",
        "Smokey, Ash or Pebble.",
        "Cats are mammals of the family Felidae.",
    ),
]
PHRASES = [
    "the quick brown fox",
    "jumps over the lazy dog",
    "fair pay for fair work",
    "hello from fairtask",
    "escrow first",
]


def demo_projects() -> list[DemoProject]:
    return [
        DemoProject(
            TemplateKind.IMAGE_CLASSIFICATION,
            "Demo: cat, dog or neither?",
            "Look at a picture and say whether it shows a cat, a dog or neither.",
            {"labels": ["Cat", "Dog", "Neither"], "question": "What does the picture show?"},
            5,
            15,
            3,
            _image_rows(),
            "images, animals",
        ),
        DemoProject(
            TemplateKind.TEXT_CLASSIFICATION,
            "Demo: route support tickets",
            "Read a customer message and pick the team that should answer it.",
            {
                "labels": ["Question", "Complaint", "Praise", "Bug report"],
                "question": "What kind of message is this?",
            },
            8,
            20,
            3,
            [
                {
                    "text": t,
                    "ticket_id": f"T-{100 + i}",
                    "_gold_label": "Complaint" if i == 1 else "",
                }
                for i, t in enumerate(TICKETS)
            ],
            "text, support",
        ),
        DemoProject(
            TemplateKind.SENTIMENT,
            "Demo: sentiment of product reviews",
            "Read a short product review and rate its sentiment.",
            {},
            5,
            12,
            3,
            [{"text": r, "review_id": f"R-{i}"} for i, r in enumerate(REVIEWS)],
            "text, reviews",
        ),
        DemoProject(
            TemplateKind.RELEVANCE,
            "Demo: is this search result relevant?",
            "Judge how well a search result answers a query.",
            {},
            6,
            20,
            3,
            [{"query": q, "result": r} for q, r in RELEVANCE],
            "search, relevance",
        ),
        DemoProject(
            TemplateKind.RESPONSE_RATING,
            "Demo: which chatbot answer is better?",
            "Compare two chatbot answers to the same prompt and pick the better one.",
            {"mode": "pairwise", "allow_tie": True},
            12,
            45,
            3,
            [{"prompt": p, "response_a": a, "response_b": b} for p, a, b in PAIRS],
            "AI, chatbot, rating",
        ),
        DemoProject(
            TemplateKind.TRANSCRIPTION,
            "Demo: type the text in the image",
            "Type exactly the words shown in a small image.",
            {"media": "image"},
            8,
            25,
            2,
            [
                {"media_url": builtin_templates.image_data_uri(p), "phrase_id": f"P-{i}"}
                for i, p in enumerate(PHRASES)
            ],
            "transcription, OCR",
        ),
    ]


def _csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def _project(user: User, spec: DemoProject) -> Project:
    existing = Project.objects.filter(owner=user, title=spec.title).order_by("pk").first()
    if existing is not None:
        return existing
    return services.project_create(
        owner=user,
        title=spec.title,
        description=spec.description,
        keywords=spec.keywords,
        instructions="This is demo work: answer as you would for a real requester.",
        template_kind=spec.kind,
        template_config=spec.config,
        reward_cents=spec.reward_cents,
        estimated_seconds=spec.estimated_seconds,
        assignments_per_task=spec.assignments_per_task,
    )


def seed_requester_demo(requester_users: Iterable[User]) -> list[Batch]:
    """For each requester: one project per built-in template, each with one batch,
    published if the requester's balance covers it (else left a draft). Returns the
    demo batches. Safe to run again: nothing is duplicated, drafts get published once
    the balance allows."""
    batches: list[Batch] = []
    specs = demo_projects()
    for user in requester_users:
        if not user.is_requester:
            continue
        for spec in specs:
            project = _project(user, spec)
            batch = project.batches.order_by("pk").first()
            if batch is None:
                batch = services.batch_upload(
                    project=project,
                    user=user,
                    fileobj=io.BytesIO(_csv(spec.rows)),
                    filename="demo.csv",
                    name=f"{spec.title} — batch 1",
                )
            if batch.status == BatchStatus.DRAFT and batch_quote(batch).shortfall_cents == 0:
                batch = services.batch_publish(batch=batch, user=user)
            batches.append(batch)
    return batches
