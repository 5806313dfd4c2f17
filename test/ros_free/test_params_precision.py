"""model.precision: int8 by default (accepted by the release gate), fp32 selectable, anything else
rejected with the choices."""

from __future__ import annotations

from t2g_ros import params as P


def test_precision_defaults_to_int8_and_rejects_unknown_values():
    assert P.NodeParams.from_values({}).model_precision == "int8"
    assert P.validate("model.precision", "fp32") is None
    reason = P.validate("model.precision", "int4")
    assert reason is not None and "fp32, int8" in reason and "'int4'" in reason
    assert P.SPECS["model.precision"].read_only, "the precision picks the export: restart to change"
