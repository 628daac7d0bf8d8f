"""Broadcast fan-out (the job the web admin and teacher commands enqueue); it lives with the
teachers' code in `conversation.teachers.broadcasts`."""

from conversation.teachers.broadcasts import check_broadcast, count_recipients, refresh_counts, run_broadcast

__all__ = ["check_broadcast", "count_recipients", "refresh_counts", "run_broadcast"]
