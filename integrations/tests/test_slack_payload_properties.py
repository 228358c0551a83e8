"""Property-based tests (hypothesis) of the Slack payload models at the edge: any JSON value is
either accepted as a dict or ignored with a reason, never an exception (issue 13)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.slack.payloads import slack_event_envelope_check, slack_interaction_check

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)
KEYS = st.sampled_from(["type", "event", "event_id", "team_id", "authorizations", "text", "user", "channel", "ts",
                        "thread_ts", "bot_id", "team", "container", "actions", "value", "action_id", "is_bot", "subtype"])
SLACKISH = st.recursive(
    st.none() | st.integers() | st.text(max_size=20) | st.sampled_from(["event_callback", "app_mention", "block_actions", "T1", "U1", "\x00"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.one_of(JSON, SLACKISH))
def test_any_payload_is_accepted_or_ignored_with_a_reason(payload):
    for check in (slack_event_envelope_check, slack_interaction_check):
        result = check(payload)
        assert isinstance(result, dict) or (isinstance(result, str) and result.startswith("ignored"))
        if isinstance(result, dict):
            assert "\x00" not in repr(result.get("event", {}).get("text", "")) if isinstance(result.get("event"), dict) else True
