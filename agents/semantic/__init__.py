"""The semantic layer at run time: semantic queries, the SQL compiler and the offline question parser.

question --parse--> :class:`~agents.semantic.query.SemanticQuery` --compile--> SQL --guard--> rows.
The model itself (editor-owned, validated on save) is :mod:`knowledge.semantic_model`.
"""
