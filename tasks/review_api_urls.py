"""Review and results endpoints under /api/v1/ (namespace ``review_api``)."""

from django.urls import path

from tasks import review_api as api

app_name = "review_api"

urlpatterns = [
    path(
        "batches/<int:batch_id>/assignments/",
        api.BatchAssignmentsView.as_view(),
        name="batch_assignments",
    ),
    path("batches/<int:batch_id>/results/", api.ResultsView.as_view(), name="results"),
    path(
        "batches/<int:batch_id>/results/<str:name>",
        api.ResultFileView.as_view(),
        name="result_file",
    ),
    path("assignments/approve/", api.ApproveView.as_view(), name="approve"),
    path("assignments/reject/", api.RejectView.as_view(), name="reject"),
    path("assignments/<int:assignment_id>/reverse/", api.ReverseView.as_view(), name="reverse"),
    path("assignments/<int:assignment_id>/bonus/", api.BonusView.as_view(), name="bonus"),
    path("assignments/<int:assignment_id>/block/", api.BlockView.as_view(), name="block"),
    path("assignments/<int:assignment_id>/unblock/", api.UnblockView.as_view(), name="unblock"),
    path("blocks/", api.BlocksView.as_view(), name="blocks"),
    path("blocks/<int:block_id>/", api.BlockDetailView.as_view(), name="block_detail"),
]
