"""Batch files: storing an upload, parsing and validating CSV / JSONL, and bulk COPY.

The services (``batch_upload``, ``batch_import``) own the transaction and the batch's
status; this module only reads files and writes task rows inside the caller's
transaction. Rules:

* Streaming. The upload is copied to disk in 1 MiB chunks (hashing as it goes) and
  parsed from there through ``io.TextIOWrapper(encoding="utf-8-sig", newline="")``; rows
  go to PostgreSQL through one ``COPY ... FROM STDIN`` in blocks of ``COPY_BLOCK_ROWS``.
  Memory stays flat whatever the file size.
* All or nothing. Validation and COPY run in one pass; at the first error no more rows
  are sent, the scan continues to count (and keep the first ``MAX_SHOWN_ERRORS`` of) all
  errors, and ``UploadInvalid`` is raised inside the COPY, which aborts it; the caller's
  transaction then rolls back, so no task row of a bad file ever exists.
* Strict CSV. A quote that is never closed, or text after a closing quote, is an error
  naming the line where the quoted field began (the lenient reader swallowed every
  line after such a quote into one field). JSONL cells nested deeper than
  ``core.limits.MAX_JSON_DEPTH`` are refused per line.
* Locations. ``row`` is the record number as a spreadsheet shows it (CSV: the header is
  row 1, the first data row is row 2; JSONL: the line number); ``line`` is the physical
  line where the record starts (differs from ``row`` when quoted fields span lines);
  ``column`` is the header name, or ``#n`` (1-based position) for a field without one.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.db import connection

from core import limits
from core.errors import ApplicationError
from marketplace.models import Task, UploadFormat
from marketplace.templating import GOLD_PREFIX

log = logging.getLogger(__name__)

MAX_SHOWN_ERRORS = 50
MAX_COLUMNS = limits.MAX_COLUMNS
MAX_JSON_DEPTH = limits.MAX_JSON_DEPTH
CHUNK_BYTES = 1 << 20
COPY_BLOCK_ROWS = 2000
PROGRESS_INTERVAL_S = 0.5
EXTENSIONS = {".csv": UploadFormat.CSV, ".jsonl": UploadFormat.JSONL, ".ndjson": UploadFormat.JSONL}


def _count(n: int, noun: str) -> str:
    """``1, "field"`` → "1 field"; ``2000, "field"`` → "2,000 fields"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


# --- Errors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    row: int | None
    column: str | None
    message: str
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "line": self.line, "column": self.column, "message": self.message}

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"Row {self.row}")
        elif self.line is not None:
            where.append(f"Line {self.line}")
        if self.column:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


@dataclass
class ErrorCollector:
    """Keeps the first ``limit`` errors and counts all of them."""

    limit: int = MAX_SHOWN_ERRORS
    shown: list[RowError] = field(default_factory=list)
    count: int = 0

    def add(
        self, row: int | None, column: str | None, message: str, *, line: int | None = None
    ) -> None:
        self.count += 1
        if len(self.shown) < self.limit:
            self.shown.append(RowError(row, column, message, line))

    def __bool__(self) -> bool:
        return self.count > 0


class UploadInvalid(ApplicationError):
    """A file refused whole. ``extra``: ``errors`` (the first 50 as dicts with row, line,
    column, message), ``error_count`` (all of them) and ``more`` (those not shown)."""

    def __init__(self, errors: ErrorCollector):
        if errors.count == 1:
            message = f"{errors.shown[0]} Nothing was imported."
        else:
            message = f"The file has {errors.count:,} errors; nothing was imported. The first: {errors.shown[0]}"
        super().__init__(
            message,
            code="invalid_upload",
            extra={
                "errors": [e.as_dict() for e in errors.shown],
                "error_count": errors.count,
                "more": errors.count - len(errors.shown),
            },
        )
        self.errors = errors

    @classmethod
    def single(
        cls,
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
        line: int | None = None,
    ) -> UploadInvalid:
        errors = ErrorCollector()
        errors.add(row, column, message, line=line)
        return cls(errors)


def _megabytes(size: int) -> str:
    """Sizes as people read them (MiB and KiB, called MB and KB as everyone does)."""
    if size < 1024 * 1024:
        return f"{-(-size // 1024)} KB"
    mb = size / (1024 * 1024)
    return f"{mb:.0f} MB" if mb == int(mb) else f"{mb:.1f} MB"


# --- Storing an upload ------------------------------------------------------------------


@dataclass(frozen=True)
class StoredUpload:
    path: Path  # absolute
    relative_path: str  # relative to FAIRTASK_UPLOAD_DIR (what the batch stores)
    size: int
    sha256: str
    format: str
    original_filename: str


def upload_dir() -> Path:
    return Path(settings.FAIRTASK_UPLOAD_DIR)


def detect_format(filename: str) -> str:
    """``csv`` or ``jsonl`` from the file name. Raises UploadInvalid for anything else."""
    suffix = Path(filename or "").suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    if suffix == ".json":
        raise UploadInvalid.single(
            "A .json file is not accepted: upload JSON Lines (.jsonl, one JSON object per line) or CSV."
        )
    raise UploadInvalid.single("Upload a CSV (.csv) or JSON Lines (.jsonl) file.")


def store_upload(
    *, fileobj: IO[bytes], filename: str, max_bytes: int | None = None
) -> StoredUpload:
    """Copy ``fileobj`` (binary, read in chunks) under the upload directory, hashing it.

    Raises UploadInvalid (nothing left on disk) for an unsupported file name, an empty
    file or one over ``max_bytes`` (default ``FAIRTASK_UPLOAD_MAX_BYTES``; a file that
    declares its ``size`` is refused before a byte is read).
    """
    fmt = detect_format(filename)
    limit = settings.FAIRTASK_UPLOAD_MAX_BYTES if max_bytes is None else max_bytes
    too_big = f"The file is larger than the {_megabytes(limit)} limit."
    declared = getattr(fileobj, "size", None)
    if isinstance(declared, int) and declared > limit:
        raise UploadInvalid.single(
            f"The file is {_megabytes(declared)}; the limit is {_megabytes(limit)}."
        )
    directory = upload_dir()
    directory.mkdir(parents=True, exist_ok=True)
    relative = f"{uuid.uuid4().hex}.{fmt}"
    path = directory / relative
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "xb") as out:
            chunks: Iterator[bytes]
            if hasattr(fileobj, "chunks"):  # Django's UploadedFile
                chunks = fileobj.chunks(CHUNK_BYTES)
            else:
                chunks = iter(lambda: fileobj.read(CHUNK_BYTES), b"")
            for chunk in chunks:
                if not isinstance(chunk, bytes | bytearray | memoryview):
                    raise TypeError("batch files are read in binary mode")
                size += len(chunk)
                if size > limit:
                    raise UploadInvalid.single(too_big)
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if size == 0:
        path.unlink(missing_ok=True)
        raise UploadInvalid.single("The file is empty.")
    name = Path(filename).name[:255]
    return StoredUpload(path, relative, size, digest.hexdigest(), fmt, name)


# --- Sharing an upload with the import job -------------------------------------------
#
# The web process stages every upload on its local disk (FAIRTASK_UPLOAD_DIR): hashing,
# the precheck and a synchronous import read it there. A file handed to the
# ``import_batch`` job goes into the "uploads" storage (settings.STORAGES), which every
# web and worker host reaches: S3-compatible object storage in production, or, with no
# "uploads" storage configured, the upload directory itself (one machine, or a volume
# they share). The job copies it back to its own local disk to parse it.


def upload_storage() -> Storage:
    if "uploads" in settings.STORAGES:
        return storages["uploads"]
    return FileSystemStorage(location=upload_dir())


def _is_upload_dir(storage: Storage) -> bool:
    return isinstance(storage, FileSystemStorage) and (
        Path(storage.location).resolve() == upload_dir().resolve()
    )


def share_upload(stored: StoredUpload) -> str:
    """Put a staged upload where the import job can read it; returns its name in the
    uploads storage (what ``Batch.upload_path`` keeps). The local staging copy is
    removed once the storage has it."""
    storage = upload_storage()
    if _is_upload_dir(storage):
        return stored.relative_path  # already there
    with open(stored.path, "rb") as fh:
        name = storage.save(stored.relative_path, File(fh, name=stored.relative_path))
    stored.path.unlink(missing_ok=True)
    return name


@contextmanager
def local_copy(name: str) -> Iterator[Path | None]:
    """A local path to the shared upload ``name`` for the duration of the block (None
    when it no longer exists). A remote object is copied to the local upload directory
    in chunks and the copy removed afterwards."""
    storage = upload_storage()
    if not name:
        yield None
        return
    try:
        local = Path(storage.path(name))
    except NotImplementedError:  # object storage: no local path
        pass
    else:
        yield local if local.exists() else None
        return
    if not storage.exists(name):
        yield None
        return
    directory = upload_dir()
    directory.mkdir(parents=True, exist_ok=True)
    copy = directory / f"import-{uuid.uuid4().hex}.tmp"
    try:
        with storage.open(name, "rb") as src, open(copy, "xb") as out:
            for chunk in iter(lambda: src.read(CHUNK_BYTES), b""):
                out.write(chunk)
        yield copy
    finally:
        copy.unlink(missing_ok=True)


def remove_upload(name: str) -> None:
    """Delete a shared upload (after its import, or when its batch failed). Never
    raises: a file left behind costs space, an exception here would cost an import."""
    if not name:
        return
    try:
        upload_storage().delete(name)
    except Exception:  # noqa: BLE001
        log.warning("could not remove upload %s", name, exc_info=True)


# --- Reading ----------------------------------------------------------------------------


@dataclass
class ParsedRow:
    row: int
    data: dict[str, Any]
    gold: dict[str, Any] | None


@dataclass
class ReadState:
    columns: list[str] = field(default_factory=list)
    errors: ErrorCollector = field(default_factory=ErrorCollector)
    raw: IO[bytes] | None = None  # the open file, for progress (bytes read so far)

    def bytes_read(self) -> int:
        # The text layer reads ahead by a few KiB: close enough for a progress bar.
        try:
            return self.raw.tell() if self.raw is not None else 0
        except (OSError, ValueError):
            return 0


def _find_bad_utf8(path: Path) -> tuple[int, int, int]:
    """(byte offset, byte value, line) of the first byte sequence that is not UTF-8.

    Only runs after the decoder failed: the error the text stream raises carries an
    offset into its internal chunk, not into the file."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    newlines = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                # exc.start indexes the decoder's pending bytes + this chunk.
                pending = len(exc.object) - len(chunk)
                at = offset - pending + exc.start
                before = chunk[: max(0, exc.start - pending)]
                return at, exc.object[exc.start], newlines + before.count(b"\n") + 1
            newlines += chunk.count(b"\n")
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return offset - len(exc.object) + exc.start, exc.object[exc.start], newlines + 1
    return offset, 0, newlines + 1


def _has_nul(path: Path) -> bool:
    # PostgreSQL text and jsonb cannot hold U+0000; a byte scan (disk speed) tells us
    # whether the per-row check is needed at all.
    with open(path, "rb") as fh:
        return any(b"\x00" in chunk for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""))


def _open_text(raw: IO[bytes]) -> io.TextIOWrapper:
    # utf-8-sig drops a leading BOM (Excel's "CSV UTF-8"); newline="" is what the csv
    # module needs to handle quoted fields with line breaks.
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def _split_gold(
    columns: list[str], state: ReadState, *, row: int
) -> tuple[list[int], list[tuple[int, str]]]:
    """Indices of data columns and (index, field) of ``_gold_<field>`` columns."""
    data_idx: list[int] = []
    gold_idx: list[tuple[int, str]] = []
    for i, name in enumerate(columns):
        if name.startswith(GOLD_PREFIX):
            gold_field = name[len(GOLD_PREFIX) :]
            if not gold_field:
                state.errors.add(
                    row,
                    name,
                    f"A gold column is named {GOLD_PREFIX}<field>, e.g. {GOLD_PREFIX}label.",
                    line=row,
                )
            gold_idx.append((i, gold_field))
        else:
            data_idx.append(i)
    return data_idx, gold_idx


def _check_header(
    header: list[str], required: list[str], state: ReadState, *, row: int = 1
) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(header, start=1):
        if "\x00" in name:
            state.errors.add(
                row, f"#{i}", f"The name of column {i} contains a NUL character (\\0).", line=row
            )
        elif not name:
            state.errors.add(row, f"#{i}", f"Column {i} has no name in the header row.", line=row)
        elif name in seen:
            state.errors.add(
                row,
                name,
                f"The column {name!r} appears twice (columns {seen[name]} and {i}).",
                line=row,
            )
        else:
            seen[name] = i
    if len(header) > MAX_COLUMNS:
        state.errors.add(
            row,
            None,
            f"The file has {len(header):,} columns; at most {MAX_COLUMNS:,} are allowed.",
            line=row,
        )
    # A spreadsheet saved with ';' or tabs reads as one column: say so.
    hint = ""
    if len(header) == 1:
        separator = next((sep for sep in (";", "\t", "|") if sep in header[0]), None)
        if separator:
            hint = f" The header looks separated by {separator!r}; save the file with commas."
    for name in required:
        if name not in seen:
            state.errors.add(
                row,
                name,
                f"The header has no column {name!r}, which the template's ${{{name}}} needs.{hint}",
                line=row,
            )


def _csv_error_message(exc: csv.Error, start_line: int) -> str:
    """What the csv module's error means, naming the line where the record (and so its
    quoted field) began."""
    text = str(exc)
    if "unexpected end of data" in text:
        return (
            f'A quoted field that begins on line {start_line} is never closed: a " without '
            'its closing " would swallow every line after it. Close the quote, or double a '
            'quote that is part of the text ("").'
        )
    if "expected after" in text:
        return (
            f"A quoted field that begins on line {start_line} has text after its closing quote. "
            'Put the whole field in quotes and double the quotes inside it ("").'
        )
    return f"The row that begins on line {start_line} cannot be read as CSV ({text})."


def read_csv(
    path: Path, *, required: list[str], state: ReadState, header_only: bool = False
) -> Iterator[ParsedRow]:
    """Yield the valid rows of a CSV file; record every problem in ``state.errors``.

    Once an error is recorded the caller stops writing; rows keep being checked so that
    the requester sees every error at once (up to the limit).
    """
    check_nul = _has_nul(path)
    with open(path, "rb") as raw:
        state.raw = raw
        text = _open_text(raw)
        # strict: a quote that is never closed, or text after a closing quote, is an
        # error instead of silently swallowing the following lines into one field.
        reader = csv.reader(text, strict=True)
        try:
            record = 0  # records read so far: the header's number once found
            header: list[str] | None = []
            while header is not None and not any(h.strip() for h in header):
                before = reader.line_num
                try:
                    header = next(reader, None)  # skipping blank lines before the header
                except csv.Error as exc:
                    state.errors.add(
                        record + 1, None, _csv_error_message(exc, before + 1), line=before + 1
                    )
                    return
                record += 1
            if header is None:
                state.errors.add(None, None, "The file is empty.")
                return
            header = [h.strip() for h in header]
            state.columns = header
            _check_header(header, required, state, row=record)
            data_idx, gold_idx = _split_gold(header, state, row=record)
            if header_only or state.errors:
                return
            ncols = len(header)
            names = [header[i] for i in data_idx]
            plain = not gold_idx  # fast path: every column is data
            rows = 0
            last_line = reader.line_num
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    record += 1
                    state.errors.add(
                        record, None, _csv_error_message(exc, last_line + 1), line=last_line + 1
                    )
                    if reader.line_num == last_line:
                        break  # the reader cannot move on; stop rather than loop
                    last_line = reader.line_num
                    continue
                record += 1
                start_line = last_line + 1
                last_line = reader.line_num
                if not any(values):
                    continue  # a blank line, or Excel's ",,," padding: not a task
                if len(values) != ncols:
                    if len(values) > ncols:
                        state.errors.add(
                            record,
                            f"#{ncols + 1}",
                            f"This row has {_count(len(values), 'field')} but the header has {_count(ncols, 'column')}.",
                            line=start_line,
                        )
                    else:
                        state.errors.add(
                            record,
                            header[len(values)],
                            f"This row has {_count(len(values), 'field')} but the header has {_count(ncols, 'column')}.",
                            line=start_line,
                        )
                    continue
                if check_nul and any("\x00" in v for v in values):
                    state.errors.add(
                        record, None, "This row contains a NUL character (\\0).", line=start_line
                    )
                    continue
                if plain:
                    data = dict(zip(names, values, strict=True))
                    gold = None
                else:
                    data = {header[i]: values[i] for i in data_idx}
                    gold = {f: values[i] for i, f in gold_idx if values[i] != ""} or None
                rows += 1
                yield ParsedRow(record, data, gold)
            if rows == 0 and not state.errors:
                state.errors.add(None, None, "The file has a header row but no data rows.")
        except UnicodeDecodeError:
            at, byte, line = _find_bad_utf8(path)
            state.errors.add(
                None,
                None,
                f"The file is not valid UTF-8: byte 0x{byte:02X} at byte offset {at:,} cannot be decoded. "
                'Save it as UTF-8 (in Excel: "CSV UTF-8") and upload it again.',
                line=line,
            )


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a valid JSON number")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is too large")
    return value


_json_decoder = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_parse_float)


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def read_jsonl(
    path: Path, *, required: list[str], state: ReadState, header_only: bool = False
) -> Iterator[ParsedRow]:
    """Yield the valid rows of a JSON Lines file (one object per line); record every
    problem in ``state.errors``. ``header_only`` checks just the first object."""
    decode = _json_decoder.decode
    columns: dict[str, None] = {}
    with open(path, "rb") as raw:
        state.raw = raw
        text = _open_text(raw)
        line_no = 0
        rows = 0
        try:
            for line in text:
                line_no += 1
                if not line.strip():
                    continue
                try:
                    obj = decode(line)
                    # Only a line with many brackets can be deep; checked without
                    # recursion, so later walks (NUL check, COPY encoding) stay shallow.
                    if (line.count("[") + line.count("{")) > MAX_JSON_DEPTH and _deeper_than(
                        obj, MAX_JSON_DEPTH
                    ):
                        raise RecursionError
                except RecursionError:
                    state.errors.add(
                        line_no,
                        None,
                        f"This line is nested too deeply (at most {MAX_JSON_DEPTH} levels of "
                        "objects and arrays).",
                        line=line_no,
                    )
                    if header_only:
                        return
                    continue
                except ValueError as exc:
                    msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                    col = f"#{exc.colno}" if isinstance(exc, json.JSONDecodeError) else None
                    state.errors.add(
                        line_no, col, f"This line is not valid JSON: {msg}.", line=line_no
                    )
                    if header_only:
                        return
                    continue
                if not isinstance(obj, dict):
                    kind = {
                        list: "an array",
                        str: "a string",
                        bool: "true/false",
                        type(None): "null",
                    }.get(type(obj), "a number")
                    state.errors.add(
                        line_no,
                        None,
                        f"Each line must be a JSON object ({{...}}); this one is {kind}.",
                        line=line_no,
                    )
                    if header_only:
                        return
                    continue
                bad = False
                for name in required:
                    if name not in obj:
                        state.errors.add(
                            line_no,
                            name,
                            f"This object has no {name!r}, which the template's ${{{name}}} needs.",
                            line=line_no,
                        )
                        bad = True
                if "\\u" in line:  # only an escape can smuggle in U+0000 or a lone surrogate
                    if _contains_nul(obj):
                        state.errors.add(
                            line_no,
                            None,
                            "This object contains a NUL character (\\u0000).",
                            line=line_no,
                        )
                        bad = True
                    elif _has_lone_surrogate(obj):
                        state.errors.add(
                            line_no,
                            None,
                            "This object contains an invalid \\u escape (a lone surrogate).",
                            line=line_no,
                        )
                        bad = True
                data: dict[str, Any] = obj
                gold: dict[str, Any] | None = None
                for key in obj:
                    if key not in columns:
                        if len(columns) >= MAX_COLUMNS:
                            state.errors.add(
                                line_no,
                                key,
                                f"The file has more than {MAX_COLUMNS:,} different fields.",
                                line=line_no,
                            )
                            bad = True
                            break
                        columns[key] = None
                    if key.startswith(GOLD_PREFIX):
                        if gold is None:
                            data = {k: v for k, v in obj.items() if not k.startswith(GOLD_PREFIX)}
                            gold = {}
                        gold_field = key[len(GOLD_PREFIX) :]
                        if not gold_field:
                            state.errors.add(
                                line_no,
                                key,
                                f"A gold field is named {GOLD_PREFIX}<field>, e.g. {GOLD_PREFIX}label.",
                                line=line_no,
                            )
                            bad = True
                        elif obj[key] not in (None, ""):
                            gold[gold_field] = obj[key]
                state.columns = list(columns)
                if header_only:
                    return
                if bad:
                    continue
                rows += 1
                yield ParsedRow(line_no, data, gold or None)
        except UnicodeDecodeError:
            at, byte, bad_line = _find_bad_utf8(path)
            state.errors.add(
                None,
                None,
                f"The file is not valid UTF-8: byte 0x{byte:02X} at byte offset {at:,} cannot be decoded. "
                "Save it as UTF-8 and upload it again.",
                line=bad_line,
            )
            return
        if line_no == 0 or (rows == 0 and not state.errors and not columns):
            state.errors.add(None, None, "The file is empty.")
        elif rows == 0 and not state.errors:
            state.errors.add(None, None, "The file has no rows.")


READERS: dict[str, Callable[..., Iterator[ParsedRow]]] = {
    UploadFormat.CSV: read_csv,
    UploadFormat.JSONL: read_jsonl,
}


def precheck(*, path: Path, fmt: str, required: list[str]) -> list[str]:
    """Fail fast on what the first record shows (empty file, header or first object
    missing a placeholder, bad encoding at the start) before a batch exists. Returns the
    columns seen. Raises UploadInvalid."""
    state = ReadState()
    for _ in READERS[fmt](path, required=required, state=state, header_only=True):
        pass
    if state.errors:
        raise UploadInvalid(state.errors)
    return state.columns


# --- Progress ---------------------------------------------------------------------------


class ProgressWriter:
    """Writes ``rows_processed``/``bytes_processed`` of a batch while its import runs.

    The import is one transaction that commits only at the end (all or nothing), so
    progress written through Django's connection would stay invisible to the page that
    polls it. This writer uses a second, autocommit psycopg connection built from the
    same connection parameters, so each update is committed at once and a separate
    request reads it. It updates no more than every ``PROGRESS_INTERVAL_S``. The import
    transaction never writes the batch row before its final status change (it locks the
    import with an advisory lock instead), so these updates never wait on it; a
    ``lock_timeout`` bounds the wait anyway, and a failed update is only logged: progress
    is a convenience and must never break an import.
    """

    def __init__(self, batch_id: int):
        self.batch_id = batch_id
        self._conn: Any = None
        self._last = 0.0
        try:
            import psycopg

            params = dict(connection.get_connection_params())
            params.pop("cursor_factory", None)  # Django's server-side-binding cursor class
            self._conn = psycopg.connect(**params, autocommit=True)
            self._conn.execute("SET lock_timeout = '2s'")
        except Exception:  # noqa: BLE001 - progress is optional; the import goes on
            log.warning("batch %s: cannot open the progress connection", batch_id, exc_info=True)
            self._conn = None

    def update(self, *, rows: int, bytes_read: int, force: bool = False) -> None:
        if self._conn is None:
            return
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_INTERVAL_S:
            return
        self._last = now
        try:
            self._conn.execute(
                "UPDATE marketplace_batch SET rows_processed = %s, bytes_processed = %s WHERE id = %s AND status = 'importing'",
                (rows, bytes_read, self.batch_id),
            )
        except Exception:  # noqa: BLE001
            log.warning("batch %s: progress update failed", self.batch_id, exc_info=True)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# --- COPY -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    task_count: int
    gold_task_count: int
    columns: list[str]


_encode_json = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), check_circular=False
).encode


def import_rows(
    *,
    batch_id: int,
    path: Path,
    fmt: str,
    required: list[str],
    assignments_needed: int,
    progress: ProgressWriter | None = None,
) -> ImportResult:
    """Validate ``path`` and COPY its rows into ``marketplace_task`` for ``batch_id``.

    Must run inside the caller's ``transaction.atomic()``: on any error this raises
    UploadInvalid from inside the COPY (aborting it) and the caller's rollback removes
    every row already sent. Takes no lock of its own; inserting tasks takes the foreign
    key's ``FOR KEY SHARE`` on the batch row, which does not conflict with the
    ``FOR NO KEY UPDATE`` the services and the progress writer use.
    """
    table = Task._meta.db_table
    state = ReadState()
    rows = 0
    gold_rows = 0
    prefix = f"{batch_id}\t"
    suffix = f"\t{assignments_needed}\t0\n"
    block: list[str] = []
    # Text-format COPY lines built by hand: JSON output escapes every control character,
    # so the only byte COPY treats specially that can occur is the backslash, which we
    # double. This is several times faster than write_row() per row.
    sql = f"COPY {table} (batch_id, row_number, data, gold_answers, assignments_needed, assignments_taken) FROM STDIN"  # noqa: S608 - fixed names
    reader = READERS[fmt](path, required=required, state=state)
    # wrap_database_errors: psycopg errors of the raw cursor surface as Django's
    # (DataError, OperationalError, ...) like any other query's.
    with connection.cursor() as django_cursor, connection.wrap_database_errors:
        cursor = django_cursor.cursor  # the psycopg cursor underneath Django's wrapper
        with cursor.copy(sql) as copy:
            for parsed in reader:
                if state.errors:
                    continue  # keep scanning for more errors; write nothing more
                rows += 1
                data_json = _encode_json(parsed.data).replace("\\", "\\\\")
                if parsed.gold is None:
                    block.append(f"{prefix}{rows}\t{data_json}\t\\N{suffix}")
                else:
                    gold_rows += 1
                    gold_json = _encode_json(parsed.gold).replace("\\", "\\\\")
                    block.append(f"{prefix}{rows}\t{data_json}\t{gold_json}{suffix}")
                if len(block) >= COPY_BLOCK_ROWS:
                    copy.write("".join(block))
                    block.clear()
                    if progress is not None:
                        progress.update(rows=rows, bytes_read=state.bytes_read())
            if state.errors:
                raise UploadInvalid(state.errors)
            if block:
                copy.write("".join(block))
    if progress is not None:
        progress.update(rows=rows, bytes_read=path.stat().st_size, force=True)
    return ImportResult(rows, gold_rows, state.columns)
