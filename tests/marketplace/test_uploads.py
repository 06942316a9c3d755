"""Batch files: CSV and JSONL parsing, all-or-nothing validation, sync and async import."""

from __future__ import annotations

import io
import json
import threading

import psycopg
import pytest
from django.db import connection

from core.errors import ApplicationError
from marketplace import services, uploads
from marketplace.models import Batch, BatchEvent, Task
from marketplace.services import batches as batch_services
from tests.marketplace.conftest import csv_bytes, fund, make_project, upload

pytestmark = pytest.mark.django_db


def tasks_of(batch: Batch) -> list[Task]:
    return list(Task.objects.filter(batch=batch).order_by("row_number"))


def assert_nothing_imported(upload_dir) -> None:
    assert not Batch.objects.exists()
    assert not Task.objects.exists()
    assert not BatchEvent.objects.exists()
    assert not upload_dir.exists() or not any(upload_dir.iterdir()), (
        "the stored upload was not removed"
    )


def refused(project, user, content, filename="batch.csv") -> ApplicationError:
    with pytest.raises(ApplicationError) as exc:
        upload(project, user, content, filename)
    assert exc.value.code == "invalid_upload"
    return exc.value


# --- Good files ---------------------------------------------------------------------------


def test_csv_with_bom_crlf_quotes_extra_and_gold_columns(project, requester, _upload_dir):
    content = (
        "\ufefftext,source,_gold_label\r\n"
        '"Hello, ""world""",email,Question\r\n'
        '"two\nlines",chat,\r\n'
        ",,\r\n"  # Excel padding: skipped
        "\r\n"
        "é ü 中文 🙂,phone,\r\n"
    ).encode()
    batch = upload(project, requester, content, "tickets.CSV", name="  First batch ")
    assert batch.status == "draft"
    assert batch.name == "First batch"
    assert (batch.task_count, batch.gold_task_count, batch.rows_processed) == (3, 1, 3)
    assert batch.original_filename == "tickets.CSV" and batch.upload_format == "csv"
    assert batch.upload_size == len(content)
    assert len(batch.upload_sha256) == 64
    assert batch.template_html == project.template_html
    rows = tasks_of(batch)
    assert [(t.row_number, t.data, t.gold_answers, t.assignments_needed) for t in rows] == [
        (1, {"text": 'Hello, "world"', "source": "email"}, {"label": "Question"}, 1),
        (2, {"text": "two\nlines", "source": "chat"}, None, 1),
        (3, {"text": "é ü 中文 🙂", "source": "phone"}, None, 1),
    ]
    assert list(batch.events.values_list("old_status", "new_status")) == [
        ("", "importing"),
        ("importing", "draft"),
    ]
    assert not any(_upload_dir.iterdir())  # a synchronous import keeps no copy


def test_backslashes_tabs_and_control_characters_survive_copy(project, requester):
    value = "C:\\path\\n\tTab \\N end\x01"
    content = io.StringIO()
    import csv

    csv.writer(content).writerows([["text"], [value], ["\\"]])
    batch = upload(project, requester, content.getvalue())
    assert [t.data["text"] for t in tasks_of(batch)] == [value, "\\"]


def test_jsonl_keeps_types_extra_keys_and_gold(project, requester):
    lines = [
        {
            "text": "a",
            "meta": {"n": 1, "tags": ["x", "y"]},
            "score": 2.5,
            "_gold_label": "Question",
        },
        {"text": "b\\u0041", "flag": True, "none": None, "_gold_label": ""},
        {"text": "\u00e9\\\\"},
    ]
    content = "\ufeff" + "\n".join(json.dumps(x) for x in lines) + "\n\n"
    batch = upload(project, requester, content, "rows.jsonl")
    assert batch.upload_format == "jsonl"
    assert [(t.data, t.gold_answers) for t in tasks_of(batch)] == [
        ({"text": "a", "meta": {"n": 1, "tags": ["x", "y"]}, "score": 2.5}, {"label": "Question"}),
        ({"text": "b\\u0041", "flag": True, "none": None}, None),
        ({"text": "é\\\\"}, None),
    ]
    assert batch.gold_task_count == 1


def test_five_thousand_rows(project, requester):
    batch = upload(project, requester, csv_bytes(5000))
    assert batch.status == "draft" and batch.task_count == 5000
    assert Task.objects.filter(batch=batch).count() == 5000
    last = Task.objects.get(batch=batch, row_number=5000)
    assert last.data == {"text": "Ticket number 5000, please help", "source": "email"}


# --- Bad files: a clear error and nothing changes ------------------------------------------


def test_missing_placeholder_column(requester, _upload_dir):
    project = make_project(
        requester,
        template_kind="custom",
        template_html="<p>${text}</p><img src='${image_url}'>${lang}",
    )
    exc = refused(project, requester, "text,other\nhello,x\n")
    assert exc.message == (
        "The file has 2 errors; nothing was imported. The first: Row 1, column image_url: "
        "The header has no column 'image_url', which the template's ${image_url} needs."
    )
    assert exc.extra["errors"] == [
        {
            "row": 1,
            "line": 1,
            "column": "image_url",
            "message": "The header has no column 'image_url', which the template's ${image_url} needs.",
        },
        {
            "row": 1,
            "line": 1,
            "column": "lang",
            "message": "The header has no column 'lang', which the template's ${lang} needs.",
        },
    ]
    assert (exc.extra["error_count"], exc.extra["more"]) == (2, 0)
    assert_nothing_imported(_upload_dir)


def test_semicolon_separated_file_gets_a_hint(project, requester, _upload_dir):
    exc = refused(project, requester, "text;source\nhello;email\n")
    assert exc.message == (
        "Row 1, column text: The header has no column 'text', which the template's ${text} needs. "
        "The header looks separated by ';'; save the file with commas. Nothing was imported."
    )
    assert_nothing_imported(_upload_dir)


def test_row_with_too_many_or_too_few_fields(project, requester, _upload_dir):
    content = 'text,source\nok,email\ntoo,many,fields\r\n"multi\nline",x\nshort\n'
    exc = refused(project, requester, content)
    assert exc.extra["errors"] == [
        {
            "row": 3,
            "line": 3,
            "column": "#3",
            "message": "This row has 3 fields but the header has 2 columns.",
        },
        {
            "row": 5,
            "line": 6,
            "column": "source",
            "message": "This row has 1 field but the header has 2 columns.",
        },
    ]
    assert exc.message.startswith(
        "The file has 2 errors; nothing was imported. The first: Row 3, column #3: "
    )
    assert_nothing_imported(_upload_dir)


def test_bad_row_after_thousands_of_good_ones_leaves_no_task(project, requester, _upload_dir):
    content = csv_bytes(5000) + b"one,two,three\n"
    exc = refused(project, requester, content)
    assert exc.message == (
        "Row 5002, column #3: This row has 3 fields but the header has 2 columns. Nothing was imported."
    )
    assert_nothing_imported(_upload_dir)


def test_invalid_utf8_names_offset_and_line(project, requester, _upload_dir):
    content = b"text,source\nfine,email\ncaf\xe9,email\n"
    exc = refused(project, requester, content)
    assert exc.extra["errors"] == [
        {
            "row": None,
            "line": 3,
            "column": None,
            "message": "The file is not valid UTF-8: byte 0xE9 at byte offset 26 cannot be decoded. "
            'Save it as UTF-8 (in Excel: "CSV UTF-8") and upload it again.',
        }
    ]
    assert exc.message.startswith("Line 3: The file is not valid UTF-8")
    assert_nothing_imported(_upload_dir)


def test_invalid_utf8_deep_in_a_large_file(project, requester, _upload_dir):
    good = csv_bytes(20_000)
    exc = refused(project, requester, good + b"\xff\xfe,x\n")
    message = exc.extra["errors"][0]["message"]
    assert f"byte 0xFF at byte offset {len(good):,} cannot be decoded" in message
    assert exc.extra["errors"][0]["line"] == 20_002
    assert_nothing_imported(_upload_dir)


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"", "batch.csv", "The file is empty."),
        (b"\xef\xbb\xbf\r\n\n", "batch.csv", "The file is empty."),
        (b"text,source\n", "batch.csv", "The file has a header row but no data rows."),
        (b"", "batch.jsonl", "The file is empty."),
        (b"\n\n", "batch.jsonl", "The file is empty."),
        (
            b"text\nx\n",
            "batch.json",
            "A .json file is not accepted: upload JSON Lines (.jsonl, one JSON object per line) or CSV.",
        ),
        (b"text\nx\n", "batch.xlsx", "Upload a CSV (.csv) or JSON Lines (.jsonl) file."),
        (
            b"text,text\nx,y\n",
            "batch.csv",
            "Row 1, column text: The column 'text' appears twice (columns 1 and 2).",
        ),
        (b"text,\nx,y\n", "batch.csv", "Row 1, column #2: Column 2 has no name in the header row."),
        (
            b"text,_gold_\nx,y\n",
            "batch.csv",
            "Row 1, column _gold_: A gold column is named _gold_<field>, e.g. _gold_label.",
        ),
        (b"text\nnul\x00here\n", "batch.csv", "Row 2: This row contains a NUL character (\\0)."),
        (
            b"text,a\x00b\nx,y\n",
            "batch.csv",
            "Row 1, column #2: The name of column 2 contains a NUL character (\\0).",
        ),
    ],
)
def test_empty_and_malformed_files(project, requester, _upload_dir, content, filename, message):
    exc = refused(project, requester, content, filename)
    assert exc.message == f"{message} Nothing was imported."
    assert_nothing_imported(_upload_dir)


@pytest.mark.parametrize(
    ("line", "column", "message"),
    [
        (
            '{"text": "a",}',
            "#14",
            "This line is not valid JSON: Expecting property name enclosed in double quotes.",
        ),
        ('["text"]', None, "Each line must be a JSON object ({...}); this one is an array."),
        ('{"other": 1}', "text", "This object has no 'text', which the template's ${text} needs."),
        ('{"text": NaN}', None, "This line is not valid JSON: NaN is not a valid JSON number."),
        ('{"text": 1e999}', None, "This line is not valid JSON: the number 1e999 is too large."),
        ('{"text": "a\\u0000b"}', None, "This object contains a NUL character (\\u0000)."),
        (
            '{"text": "\\ud800"}',
            None,
            "This object contains an invalid \\u escape (a lone surrogate).",
        ),
        # Issue 15, defect 2: a cell nested 100,000 deep was a RecursionError (a 500).
        (
            '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}",
            None,
            "This line is nested too deeply (at most 32 levels of objects and arrays).",
        ),
        (
            '{"text": ' + "[" * 500 + "]" * 500 + "}",
            None,
            "This line is nested too deeply (at most 32 levels of objects and arrays).",
        ),
    ],
)
def test_bad_jsonl_lines(project, requester, _upload_dir, line, column, message):
    content = '{"text": "fine"}\n' + line + "\n"
    exc = refused(project, requester, content, "batch.jsonl")
    assert exc.extra["errors"] == [{"row": 2, "line": 2, "column": column, "message": message}]
    assert_nothing_imported(_upload_dir)


def test_nesting_up_to_the_limit_is_kept(project, requester):
    cell = "[" * 31 + "1" + "]" * 31
    batch = upload(project, requester, '{"text": ' + cell + "}\n", "batch.jsonl")
    assert batch.task_count == 1


# Issue 15, defect 3: these were accepted, the quote swallowing the lines after it.
@pytest.mark.parametrize(
    ("content", "row", "line", "message"),
    [
        (
            'text\nrow1\n"row2\nrow3\nrow4\nrow5\n',
            3,
            3,
            "A quoted field that begins on line 3 is never closed",
        ),
        (
            'text\n"a\nb"\nok\n"never closed\nx\n',
            4,
            5,
            "A quoted field that begins on line 5 is never closed",
        ),
        ('text\nrow1\n"row2"x\nrow3\n', 3, 3, "begins on line 3 has text after its closing quote"),
        ('"text\nrow1\n', 1, 1, "A quoted field that begins on line 1 is never closed"),
    ],
)
def test_a_stray_or_unterminated_quote_is_refused_naming_its_line(
    project, requester, _upload_dir, content, row, line, message
):
    exc = refused(project, requester, content)
    first = exc.extra["errors"][0]
    assert (first["row"], first["line"]) == (row, line)
    assert message in first["message"]
    assert_nothing_imported(_upload_dir)


def test_first_fifty_errors_shown_and_the_rest_counted(project, requester, _upload_dir):
    content = "text,source\n" + "".join(f"only{i}\n" for i in range(120))
    exc = refused(project, requester, content)
    assert len(exc.extra["errors"]) == 50
    assert (exc.extra["error_count"], exc.extra["more"]) == (120, 70)
    assert exc.extra["errors"][49]["row"] == 51
    assert exc.message.startswith(
        "The file has 120 errors; nothing was imported. The first: Row 2, column source:"
    )
    assert_nothing_imported(_upload_dir)


def test_file_over_the_limit(project, requester, settings, _upload_dir):
    settings.FAIRTASK_UPLOAD_MAX_BYTES = 1024
    exc = refused(project, requester, csv_bytes(100))
    assert exc.message == "The file is larger than the 1 KB limit. Nothing was imported."
    assert_nothing_imported(_upload_dir)


def test_file_declaring_a_size_over_the_limit_is_refused_unread(
    project, requester, settings, _upload_dir
):
    settings.FAIRTASK_UPLOAD_MAX_BYTES = 50 * 1024 * 1024

    class Declared(io.BytesIO):
        size = 60 * 1024 * 1024

        def read(self, *args):  # pragma: no cover - must not be called
            raise AssertionError("read a file that declared it is too big")

    with pytest.raises(ApplicationError) as exc:
        services.batch_upload(
            project=project, user=requester, fileobj=Declared(b""), filename="big.csv"
        )
    assert exc.value.message == "The file is 60 MB; the limit is 50 MB. Nothing was imported."
    assert_nothing_imported(_upload_dir)


def test_other_requester_and_archived_project(project, requester, other_requester, _upload_dir):
    with pytest.raises(ApplicationError) as exc:
        upload(project, other_requester, csv_bytes(3))
    assert (exc.value.status, exc.value.message) == (404, "Project not found.")
    services.project_archive(project=project, user=requester)
    with pytest.raises(
        ApplicationError, match="This project is archived; restore it before uploading a batch."
    ):
        upload(project, requester, csv_bytes(3))
    assert_nothing_imported(_upload_dir)


# --- Asynchronous import ---------------------------------------------------------------------


@pytest.fixture
def small_sync_limit(settings):
    settings.FAIRTASK_UPLOAD_SYNC_MAX_BYTES = 100


def test_large_file_is_imported_by_the_job_enqueued_on_commit(
    project,
    requester,
    small_sync_limit,
    _upload_dir,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    sent = []
    monkeypatch.setattr(
        "marketplace.jobs.import_batch.delay", lambda batch_id: sent.append(batch_id)
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        batch = upload(project, requester, csv_bytes(300))
    assert batch.status == "importing" and batch.task_count == 0
    assert len(callbacks) == 1 and sent == [batch.pk]
    assert not Task.objects.filter(batch=batch).exists()
    stored = _upload_dir / batch.upload_path
    assert stored.exists() and stored.stat().st_size == batch.upload_size

    # The job's body:
    with django_capture_on_commit_callbacks(execute=True):
        imported = services.batch_import(batch_id=batch.pk)
    assert imported.status == "draft"
    assert (imported.task_count, imported.rows_processed, imported.bytes_processed) == (
        300,
        300,
        batch.upload_size,
    )
    assert imported.import_started_at <= imported.import_finished_at
    assert imported.upload_path == "" and not stored.exists()
    assert Task.objects.filter(batch=batch).count() == 300
    # A retried job after success does nothing.
    again = services.batch_import(batch_id=batch.pk)
    assert again.status == "draft" and Task.objects.filter(batch=batch).count() == 300
    assert list(batch.events.values_list("new_status", flat=True)) == ["importing", "draft"]


def test_a_header_error_is_refused_before_any_batch_exists_even_for_large_files(
    requester, small_sync_limit, _upload_dir, django_capture_on_commit_callbacks
):
    project = make_project(requester, template_kind="custom", template_html="${image_url}")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        refused(project, requester, csv_bytes(300))
    assert callbacks == []
    assert_nothing_imported(_upload_dir)


def test_bad_large_file_fails_the_batch_with_its_errors(
    project,
    requester,
    small_sync_limit,
    _upload_dir,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    monkeypatch.setattr("marketplace.jobs.import_batch.delay", lambda batch_id: None)
    with django_capture_on_commit_callbacks(execute=True):
        batch = upload(project, requester, csv_bytes(300) + b"a,b,c\n")
    with django_capture_on_commit_callbacks(execute=True):
        failed = services.batch_import(batch_id=batch.pk)
    assert failed.status == "failed"
    assert failed.import_error_count == 1
    assert failed.import_errors == [
        {
            "row": 302,
            "line": 302,
            "column": "#3",
            "message": "This row has 3 fields but the header has 2 columns.",
        }
    ]
    assert not Task.objects.filter(batch=batch).exists()
    assert not (_upload_dir / batch.upload_path).exists() and failed.upload_path == ""
    assert list(failed.events.values_list("new_status", flat=True)) == ["importing", "failed"]
    assert services.batch_import(batch_id=batch.pk).status == "failed"  # a retry changes nothing
    with pytest.raises(
        ApplicationError, match="This batch failed to import and cannot be published."
    ):
        services.batch_publish(batch=failed, user=requester)


def test_crash_mid_import_rolls_back_and_a_rerun_is_clean(
    project, requester, small_sync_limit, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("marketplace.jobs.import_batch.delay", lambda batch_id: None)
    monkeypatch.setattr(uploads, "COPY_BLOCK_ROWS", 100)
    with django_capture_on_commit_callbacks(execute=True):
        batch = upload(project, requester, csv_bytes(1000))
    real_read_csv = uploads.read_csv

    def crashing(*args, **kwargs):
        for i, row in enumerate(real_read_csv(*args, **kwargs)):
            if i == 700:
                raise RuntimeError("worker killed")
            yield row

    monkeypatch.setitem(uploads.READERS, "csv", crashing)
    with pytest.raises(RuntimeError):
        services.batch_import(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == "importing" and not Task.objects.filter(batch=batch).exists()
    monkeypatch.setitem(uploads.READERS, "csv", real_read_csv)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.batch_import(batch_id=batch.pk).status == "draft"
    assert Task.objects.filter(batch=batch).count() == 1000


def test_the_job_marks_the_batch_failed_on_an_unexpected_error(
    project, requester, small_sync_limit, django_capture_on_commit_callbacks, monkeypatch
):
    from marketplace import jobs

    monkeypatch.setattr("marketplace.jobs.import_batch.delay", lambda batch_id: None)
    with django_capture_on_commit_callbacks(execute=True):
        batch = upload(project, requester, csv_bytes(300))
    monkeypatch.setattr(
        batch_services, "_import", lambda **kw: (_ for _ in ()).throw(KeyError("bug"))
    )
    with pytest.raises(KeyError), django_capture_on_commit_callbacks(execute=True):
        jobs.import_batch(batch.pk)
    batch.refresh_from_db()
    assert batch.status == "failed"
    assert batch.import_errors[0]["message"] == (
        "The import stopped because of an internal error; please upload the file again."
    )


def test_the_job_runs_the_import(
    project, requester, small_sync_limit, django_capture_on_commit_callbacks, monkeypatch
):
    from marketplace import jobs

    monkeypatch.setattr("marketplace.jobs.import_batch.delay", lambda batch_id: None)
    with django_capture_on_commit_callbacks(execute=True):
        batch = upload(project, requester, csv_bytes(300))
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.import_batch(batch.pk) == "draft"
    assert jobs.import_batch(batch.pk) == "draft"
    assert jobs.import_batch(10**9) == "missing"


# --- Progress and exclusivity need committed rows: transactional tests ------------------------


def _other_connection() -> psycopg.Connection:
    params = dict(connection.get_connection_params())
    params.pop("cursor_factory", None)
    return psycopg.connect(**params, autocommit=True)


@pytest.mark.django_db(transaction=True)
def test_progress_is_readable_from_another_connection_while_the_import_runs(
    project, requester, small_sync_limit, monkeypatch
):
    monkeypatch.setattr("marketplace.jobs.import_batch.delay", lambda batch_id: None)
    batch = upload(project, requester, csv_bytes(5000))
    monkeypatch.setattr(uploads, "COPY_BLOCK_ROWS", 1000)
    monkeypatch.setattr(uploads, "PROGRESS_INTERVAL_S", 0)
    seen = []
    real_update = uploads.ProgressWriter.update

    def spy(self, **kwargs):
        real_update(self, **kwargs)
        with _other_connection() as other:
            processed, read = other.execute(
                "SELECT rows_processed, bytes_processed FROM marketplace_batch WHERE id = %s",
                (batch.pk,),
            ).fetchone()
            visible_tasks = other.execute(
                "SELECT count(*) FROM marketplace_task WHERE batch_id = %s", (batch.pk,)
            ).fetchone()[0]
        seen.append((processed, read > 0, visible_tasks))

    monkeypatch.setattr(uploads.ProgressWriter, "update", spy)
    assert services.batch_import(batch_id=batch.pk).status == "draft"
    # Progress moved while the import transaction (and its tasks) was still invisible.
    assert seen[:5] == [
        (1000, True, 0),
        (2000, True, 0),
        (3000, True, 0),
        (4000, True, 0),
        (5000, True, 0),
    ]
    assert seen[-1] == (5000, True, 0)
    batch.refresh_from_db()
    assert (batch.rows_processed, batch.bytes_processed) == (5000, batch.upload_size)


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_job_running_at_the_same_time_steps_aside(
    project, requester, small_sync_limit, monkeypatch
):
    monkeypatch.setattr("marketplace.jobs.import_batch.delay", lambda batch_id: None)
    batch = upload(project, requester, csv_bytes(300))
    with _other_connection() as other:
        other.execute("BEGIN")
        other.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)", (batch_services.IMPORT_LOCK_NAMESPACE, batch.pk)
        )
        result = services.batch_import(batch_id=batch.pk)
        assert result.status == "importing" and not Task.objects.filter(batch=batch).exists()
        other.execute("ROLLBACK")
    assert services.batch_import(batch_id=batch.pk).status == "draft"


@pytest.mark.django_db(transaction=True)
def test_two_imports_racing_produce_one_set_of_tasks(
    project, requester, small_sync_limit, monkeypatch
):
    monkeypatch.setattr("marketplace.jobs.import_batch.delay", lambda batch_id: None)
    batch = upload(project, requester, csv_bytes(3000))
    results, errors = [], []

    def run():
        try:
            results.append(services.batch_import(batch_id=batch.pk).status)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Task.objects.filter(batch=batch).count() == 3000
    assert Batch.objects.get(pk=batch.pk).status == "draft"
    assert list(BatchEvent.objects.filter(batch=batch).values_list("new_status", flat=True)) == [
        "importing",
        "draft",
    ]


def test_the_expiry_job_reenqueues_imports_that_never_ran(
    project, requester, small_sync_limit, django_capture_on_commit_callbacks, monkeypatch
):
    from datetime import timedelta

    from django.utils import timezone

    from marketplace import jobs

    sent = []
    monkeypatch.setattr("marketplace.jobs.import_batch.delay", sent.append)
    with django_capture_on_commit_callbacks(execute=True):
        batch = upload(project, requester, csv_bytes(300))
    assert sent == [batch.pk]
    assert jobs.expire_batches()["imports_requeued"] == 0  # just uploaded: give it time
    Batch.objects.filter(pk=batch.pk).update(created_at=timezone.now() - timedelta(minutes=11))
    assert jobs.expire_batches()["imports_requeued"] == 1
    assert sent == [batch.pk, batch.pk]


def test_a_lost_enqueue_does_not_break_the_upload(
    project, requester, small_sync_limit, django_capture_on_commit_callbacks, monkeypatch
):
    def broker_down(batch_id):
        raise ConnectionError("broker down")

    monkeypatch.setattr("marketplace.jobs.import_batch.delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        batch = upload(project, requester, csv_bytes(300))
    assert Batch.objects.get(pk=batch.pk).status == "importing"


def test_one_hundred_thousand_rows_through_to_a_published_batch(
    project, requester, funded, settings, django_capture_on_commit_callbacks, monkeypatch
):
    """The benchmark's path at full size (bench/upload.py measures it)."""
    from tests.marketplace.conftest import escrow

    monkeypatch.setattr("marketplace.jobs.import_batch.delay", lambda batch_id: None)
    content = csv_bytes(100_000)
    assert len(content) > settings.FAIRTASK_UPLOAD_SYNC_MAX_BYTES  # the asynchronous path
    with django_capture_on_commit_callbacks(execute=True):
        batch = upload(project, requester, content)
        batch = services.batch_import(batch_id=batch.pk)
    assert batch.task_count == 100_000
    fund(requester, 2_000_000)
    batch = services.batch_publish(batch=batch, user=requester)
    assert Task.objects.filter(batch=batch).count() == 100_000
    assert escrow(batch) == 100_000 * 12 == batch.total_cost_cents


def test_a_value_the_database_refuses_is_a_clean_error(
    project, requester, monkeypatch, _upload_dir
):
    # Validation is meant to catch everything; should PostgreSQL still refuse a value,
    # the requester gets an error and nothing is imported, not a 500.
    monkeypatch.setattr(uploads, "_encode_json", lambda obj: '{"text": "\\u0000"}')
    exc = refused(project, requester, csv_bytes(3))
    assert exc.message.startswith("A row could not be stored: unsupported Unicode escape sequence")
    assert_nothing_imported(_upload_dir)
