"""/api/v1/worker/ (namespace ``worker_api``)."""

from django.urls import path

from tasks import api

app_name = "worker_api"

urlpatterns = [
    # The two most frequent requests first (Django tries the patterns in order).
    path("submit/", api.submit, name="submit"),
    path("projects/<int:project_id>/claim/", api.project_claim, name="project_claim"),
    path("tasks/<int:task_id>/claim/", api.TaskClaimView.as_view(), name="task_claim"),
    path("assignments/", api.AssignmentListView.as_view(), name="assignment_list"),
    path(
        "assignments/<int:assignment_id>/",
        api.AssignmentDetailView.as_view(),
        name="assignment_detail",
    ),
    path(
        "assignments/<int:assignment_id>/return/",
        api.AssignmentReturnView.as_view(),
        name="assignment_return",
    ),
    path(
        "assignments/<int:assignment_id>/next/",
        api.AssignmentNextView.as_view(),
        name="assignment_next",
    ),
]
