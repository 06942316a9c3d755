"""Paging adapters shared by the requester pages and the API."""

from __future__ import annotations

from typing import Any

from marketplace import selectors


class BatchSummaries:
    """``selectors.requester_batches`` as a sequence ``Paginator`` can page through: a
    page costs one COUNT, one query for its batches and one for their progress."""

    def __init__(
        self, user: Any, *, project_id: int | None = None, statuses: list[str] | None = None
    ):
        self.user, self.project_id, self.statuses = user, project_id, statuses

    def count(self) -> int:
        qs = selectors.batches_for(self.user, project_id=self.project_id)
        if self.statuses:
            qs = qs.filter(status__in=self.statuses)
        return qs.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, item: slice) -> list[selectors.BatchSummary]:
        if not isinstance(item, slice):
            raise TypeError("BatchSummaries supports slices only")
        start = item.start or 0
        return selectors.requester_batches(
            self.user,
            project_id=self.project_id,
            statuses=self.statuses,
            limit=max(0, (item.stop or start) - start),
            offset=start,
        )
