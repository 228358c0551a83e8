"""Former dotted path of the Slack question task, kept for tasks queued before the move.

The task now lives next to what it drives: :func:`agents.slack_events.slack_question_process`
(enqueued under that path). A worker started after a deploy may still find a queued task named
``integrations.slack.tasks.slack_question_process`` (Slack questions wait seconds in the queue);
this alias runs it. It is the one upward import of the integrations layer, pinned in
``revops/tests/test_layers.py`` (``LEGACY_TASK_ALIASES``); delete the module one release after
the move.
"""

from agents.slack_events import slack_question_process

__all__ = ["slack_question_process"]
