"""Review pages and downloads under /requester/ (namespace ``review``)."""

from django.urls import path

from tasks import review_views as v

app_name = "review"

urlpatterns = [
    path("batches/<int:batch_id>/review/", v.review_table, name="review_table"),
    path("batches/<int:batch_id>/review/decide/", v.review_decide, name="review_decide"),
    path(
        "batches/<int:batch_id>/review/<int:assignment_id>/<str:action>/",
        v.assignment_action,
        name="assignment_action",
    ),
    path("batches/<int:batch_id>/results/<str:name>", v.batch_export, name="batch_export"),
    path("blocked-workers/", v.blocked_workers, name="blocked_workers"),
    path("blocked-workers/<int:block_id>/unblock/", v.unblock_worker, name="unblock_worker"),
]
