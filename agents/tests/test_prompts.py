from agents.models import PromptVersion
from agents.runtime import prompts


def test_prompt_ref_writes_once_per_process_after_commit(db, django_capture_on_commit_callbacks, django_assert_num_queries):
    text = "a system prompt used only by this test"
    try:
        with django_capture_on_commit_callbacks(execute=True):
            ref = prompts.prompt_ref("test", text)
        assert ref.startswith("test@") and PromptVersion.objects.filter(name="test").count() == 1
        with django_assert_num_queries(0):
            assert prompts.prompt_ref("test", text) == ref
    finally:
        prompts._STORED.clear()
