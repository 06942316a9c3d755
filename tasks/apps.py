from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"

    def ready(self) -> None:
        from payouts import settlement
        from tasks.services import assignments_mark_settled

        settlement.on_settled(
            name="tasks.assignments_mark_settled", callback=assignments_mark_settled
        )
