"""Tenant schedules (issue 11 part 5): the django-q2 rows they own, their firing task and the
delivery of their answers. See :mod:`agents.scheduled.services` and :mod:`agents.scheduled.tasks`."""
