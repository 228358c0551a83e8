"""Retrieval filters on the chunk row, the chunk count per tenant, embeddings kept inline.

1. ``KnowledgeBaseSettings.chunk_count`` (chunks of the serving model) lets a search choose
   between an exact scan and the HNSW index without counting rows on every query.
2. ``document_status`` / ``document_kind`` / ``document_tags`` copy the document's, so the
   filters are row predicates an HNSW iterative scan applies while walking the index (a join
   to the documents made PostgreSQL abandon the index). Backfilled from the documents.
3. Embeddings inline: a 384-dimension vector is 1.5 kB; with the text and its tsvector a row
   passes the 2 kB TOAST threshold, and PostgreSQL moved the largest value, the embedding, out
   of line, so every exact distance cost a TOAST fetch (an exact scan of a tenant's 10,000
   chunks: ~50 ms instead of ~25 ms, see knowledge.bench). ``STORAGE MAIN`` makes PostgreSQL
   move the text and tsvector out first. (Keeping whole rows inline with a larger
   ``toast_tuple_target`` was measured too: a bigger heap, slower exact scans.) Applies to rows
   written from now on; ``VACUUM FULL knowledge_knowledgechunk`` rewrites older ones.
"""

import django.contrib.postgres.fields
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('knowledge', '0002_versions_status_tags_hybrid'),
    ]

    operations = [
        migrations.AddField(
            model_name='knowledgechunk',
            name='document_kind',
            field=models.CharField(choices=[('business_logic', 'Business logic'), ('icp', 'Ideal customer profile'), ('sql_pattern', 'SQL pattern'), ('workflow', 'Workflow'), ('semantic_model', 'Semantic model'), ('playbook', 'Playbook'), ('other', 'Other')], default='other', max_length=32),
        ),
        migrations.AddField(
            model_name='knowledgechunk',
            name='document_status',
            field=models.CharField(choices=[('draft', 'Draft'), ('published', 'Published')], default='published', max_length=16),
        ),
        migrations.AddField(
            model_name='knowledgechunk',
            name='document_tags',
            field=django.contrib.postgres.fields.ArrayField(base_field=models.CharField(max_length=50), blank=True, default=list, size=None),
        ),
        migrations.AddField(
            model_name="knowledgebasesettings",
            name="chunk_count",
            field=models.PositiveIntegerField(
                default=0, help_text="Chunks of the serving model, refreshed on indexing; picks exact or HNSW search."
            ),
        ),
        migrations.RunSQL(
            sql="""UPDATE knowledge_knowledgechunk c
                   SET document_status = d.status, document_kind = d.kind, document_tags = d.tags
                   FROM knowledge_knowledgedocument d WHERE d.id = c.document_id""",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.RunSQL(
            sql="ALTER TABLE knowledge_knowledgechunk ALTER COLUMN embedding SET STORAGE MAIN",
            reverse_sql="ALTER TABLE knowledge_knowledgechunk ALTER COLUMN embedding SET STORAGE EXTENDED",
        ),
    ]
