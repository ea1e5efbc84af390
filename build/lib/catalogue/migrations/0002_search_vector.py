"""Full-text search on PostgreSQL: a generated, weighted tsvector with a GIN index.

SQLite (the embedded default) has no tsvector; search there falls back to
substring matching (catalogue.selectors._text_filter), so this is a no-op.
"""

from django.db import migrations

FORWARD = [
    """
    ALTER TABLE catalogue_dataset ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(keywords::text, '')), 'B') ||
        setweight(to_tsvector('english', coalesce(description, '')), 'C')
    ) STORED
    """,
    "CREATE INDEX catalogue_dataset_search_gin ON catalogue_dataset USING GIN (search_vector)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS catalogue_dataset_search_gin",
    "ALTER TABLE catalogue_dataset DROP COLUMN IF EXISTS search_vector",
]


def run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0001_initial")]
    operations = [migrations.RunPython(run(FORWARD), run(BACKWARD))]
