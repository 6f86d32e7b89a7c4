"""``python -m edge_sdk.features``: print the feature table that ``docs/features.md`` holds."""

from edge_sdk.features.spec import render_feature_table

print(render_feature_table(), end="")
