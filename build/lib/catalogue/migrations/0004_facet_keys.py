"""Facet values move from the DatasetFacet table into Dataset.facet_keys (a JSON object).

One copy of derived state instead of two; on PostgreSQL a GIN index on the column lets a
facet filter and the full-text index combine in one bitmap scan.
"""

from django.db import migrations, models


def copy_facets(apps, schema_editor):
    Dataset = apps.get_model("catalogue", "Dataset")
    DatasetFacet = apps.get_model("catalogue", "DatasetFacet")
    keys: dict = {}
    rows = DatasetFacet.objects.values_list("dataset_id", "facet", "value").iterator()
    for dataset_id, facet, value in rows:
        keys.setdefault(dataset_id, {})[f"{facet}={value}"] = True
    for dataset_id, dataset_keys in keys.items():
        Dataset.objects.filter(pk=dataset_id).update(facet_keys=dict(sorted(dataset_keys.items())))


def on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0003_paging_index")]
    operations = [
        migrations.AddField(
            "dataset", "facet_keys", models.JSONField(default=dict, blank=True, editable=False)
        ),
        migrations.RunPython(copy_facets, migrations.RunPython.noop),
        migrations.DeleteModel("DatasetFacet"),
        migrations.RunPython(
            on_postgresql(
                "CREATE INDEX catalogue_dataset_facet_keys_gin ON catalogue_dataset"
                " USING GIN (facet_keys)"
            ),
            on_postgresql("DROP INDEX IF EXISTS catalogue_dataset_facet_keys_gin"),
        ),
    ]
