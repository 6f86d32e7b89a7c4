"""Features: a fixed, versioned feature vector per activity window, computed with numpy.

:data:`FEATURE_SPEC` (version :data:`FEATURE_SPEC_VERSION`) lists the features in vector order with
their unit and definition; :func:`extract` and :func:`extract_many` compute them. The functions per
modality (:mod:`.keystroke`, :mod:`.touch`, :mod:`.motion`, :mod:`.context`) are pure and public.
"""

from edge_sdk.features.errors import FeatureError, InvalidTzOffset
from edge_sdk.features.extract import extract, extract_many
from edge_sdk.features.spec import (
    FEATURE_INDEX,
    FEATURE_NAMES,
    FEATURE_SPEC,
    FEATURE_SPEC_VERSION,
    N_FEATURES,
    FeatureDef,
    render_feature_table,
)

__all__ = [
    "FEATURE_INDEX",
    "FEATURE_NAMES",
    "FEATURE_SPEC",
    "FEATURE_SPEC_VERSION",
    "N_FEATURES",
    "FeatureDef",
    "FeatureError",
    "InvalidTzOffset",
    "extract",
    "extract_many",
    "render_feature_table",
]
