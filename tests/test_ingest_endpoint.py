from events.models import Event, Run, RunState

from tests.helpers import load_body


def test_it_works(post):
    response = post(load_body("sync-started"))

    assert response.status_code == 200
    run = Run.objects.get()
    assert response.json() == {"status": "applied", "event": Event.objects.get().pk, "run": run.pk}
    assert run.state == RunState.RUNNING


def test_it_rejects_non_json_body(post):
    post(
        "{not json",
        expect_error="could not parse request body: Expecting property name enclosed in double quotes at line 1 column 2",
    )
