"""Status, tags, version history, per-tenant embedder settings, full-text search and the HNSW
indexes of the built-in embedding models. Additive: existing documents become published, get a
version-history row for their current version, and their chunks a search vector."""

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.deletion
import django.db.models.manager
from django.conf import settings
from django.db import migrations, models

# Built-in models other than hashing-384 (migration 0001 has that one): Titan V2 at its three
# dimensions and the local MiniLM. Empty partial indexes cost nothing until rows arrive.
BUILTIN_MODELS = [("titan-v2-256", 256), ("titan-v2-512", 512), ("titan-v2-1024", 1024), ("minilm-l6-v2-384", 384)]


def _index_ops():
    # Frozen copy of knowledge.vector_index.create_index_sql (migrations must not change later).
    ops = []
    for model, dims in BUILTIN_MODELS:
        name = "knowledge_chunk_hnsw_" + model.replace("-", "_").replace(".", "_")
        ops.append(
            migrations.RunSQL(
                sql=(
                    f"CREATE INDEX IF NOT EXISTS {name} ON knowledge_knowledgechunk "
                    f"USING hnsw ((embedding::vector({dims})) vector_cosine_ops) "
                    f"WITH (m = 32, ef_construction = 128) WHERE embedding_model = '{model}'"
                ),
                reverse_sql=f"DROP INDEX IF EXISTS {name}",
            )
        )
    return ops


BACKFILL_SQL = """
INSERT INTO knowledge_knowledgedocumentversion
    (tenant_id, document_id, version, kind, title, body, status, tags, created_by_id, created_at, note)
SELECT d.tenant_id, d.id, d.version, d.kind, d.title, d.body, d.status, d.tags, d.updated_by_id, d.updated_at,
       'version before history was kept'
FROM knowledge_knowledgedocument d
ON CONFLICT DO NOTHING;
UPDATE knowledge_knowledgechunk c
SET search_vector = setweight(to_tsvector('english', d.title), 'A')
                 || setweight(to_tsvector('english', c.heading_path), 'B')
                 || setweight(to_tsvector('english', c.text), 'C'),
    document_version = d.version
FROM knowledge_knowledgedocument d
WHERE d.id = c.document_id;
"""


class Migration(migrations.Migration):

    dependencies = [
        ("knowledge", "0001_initial"),
        ("tenants", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="knowledgedocument",
            name="status",
            field=models.CharField(
                choices=[("draft", "Draft"), ("published", "Published")],
                default="published",
                help_text="Only published documents are used by the agents.",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="knowledgedocument",
            name="tags",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(max_length=50),
                blank=True,
                default=list,
                help_text="Comma-separated labels (lower-case), usable as retrieval filters.",
                size=None,
            ),
        ),
        migrations.AddIndex(
            model_name="knowledgedocument",
            index=models.Index(fields=["tenant", "status"], name="knowledge_doc_tenant_status"),
        ),
        migrations.AddField(
            model_name="knowledgechunk",
            name="document_version",
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AddField(
            model_name="knowledgechunk",
            name="search_vector",
            field=django.contrib.postgres.search.SearchVectorField(null=True),
        ),
        migrations.AddIndex(
            model_name="knowledgechunk",
            index=models.Index(fields=["tenant", "embedding_model"], name="knowledge_chunk_tenant_model"),
        ),
        migrations.AddIndex(
            model_name="knowledgechunk",
            index=django.contrib.postgres.indexes.GinIndex(fields=["search_vector"], name="knowledge_chunk_fts"),
        ),
        migrations.CreateModel(
            name="KnowledgeDocumentVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("version", models.PositiveIntegerField()),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("business_logic", "Business logic"),
                            ("icp", "Ideal customer profile"),
                            ("sql_pattern", "SQL pattern"),
                            ("workflow", "Workflow"),
                            ("semantic_model", "Semantic model"),
                            ("playbook", "Playbook"),
                            ("other", "Other"),
                        ],
                        max_length=32,
                    ),
                ),
                ("title", models.CharField(max_length=200)),
                ("body", models.TextField(blank=True)),
                ("status", models.CharField(choices=[("draft", "Draft"), ("published", "Published")], max_length=16)),
                (
                    "tags",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(max_length=50), blank=True, default=list, size=None
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "note",
                    models.CharField(
                        blank=True, help_text="e.g. 'restored from v2', 'imported from icp.md'", max_length=200
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "document",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="versions",
                        to="knowledge.knowledgedocument",
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="tenants.tenant"
                    ),
                ),
            ],
            options={
                "ordering": ["document_id", "-version"],
                "abstract": False,
                "base_manager_name": "all_tenants",
                "default_manager_name": "all_tenants",
                "constraints": [
                    models.UniqueConstraint(fields=("document", "version"), name="knowledge_docversion_uniq")
                ],
            },
            managers=[("all_tenants", django.db.models.manager.Manager())],
        ),
        migrations.CreateModel(
            name="KnowledgeBaseSettings",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("embedder", models.CharField(max_length=64)),
                ("pending_embedder", models.CharField(blank=True, max_length=64)),
                (
                    "reembed_status",
                    models.CharField(
                        choices=[("idle", "Idle"), ("running", "Re-embedding"), ("failed", "Failed")],
                        default="idle",
                        max_length=16,
                    ),
                ),
                ("reembed_error", models.TextField(blank=True)),
                ("reembed_done", models.PositiveIntegerField(default=0)),
                ("reembed_total", models.PositiveIntegerField(default=0)),
                ("reembed_started_at", models.DateTimeField(blank=True, null=True)),
                ("reembed_finished_at", models.DateTimeField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="tenants.tenant"
                    ),
                ),
            ],
            options={
                "verbose_name": "knowledge base settings",
                "verbose_name_plural": "knowledge base settings",
                "abstract": False,
                "base_manager_name": "all_tenants",
                "default_manager_name": "all_tenants",
                "constraints": [models.UniqueConstraint(fields=("tenant",), name="knowledge_settings_uniq_tenant")],
            },
            managers=[("all_tenants", django.db.models.manager.Manager())],
        ),
        migrations.RunSQL(sql=BACKFILL_SQL, reverse_sql=migrations.RunSQL.noop),
        *_index_ops(),
    ]
