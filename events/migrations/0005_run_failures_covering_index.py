from django.db import migrations

# The failures page and the 24-hour counter read the failed runs completed since a moment.
# On PostgreSQL, an index holding just those runs and the columns the page groups by lets it
# answer from the index alone, however many successful runs surround them. SQLite has no
# covering indexes (Django's check warns about them), so the index is PostgreSQL's only, and
# unknown to the model state.
INDEX = "events_run_failures_covering"
CREATE = (
    f"CREATE INDEX IF NOT EXISTS {INDEX} ON events_run (completed) "
    "INCLUDE (fingerprint, repository_id, id) WHERE state IN ('failed', 'error')"
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("events", "0004_repository_finished_sync_state")]

    operations = [migrations.RunPython(create, drop)]
