"""The accuracy check: every exported artifact against its Keras model, PASS/FAIL per precision.

- ``tolerances``: the table of limits per precision and the CLI overrides;
- ``analysis``: output differences and the verdict, pure;
- ``runner``: loads the models and artifacts, runs them, builds the record (``run_check``);
- ``table``: the results as text.

The record itself (``CheckReport``, ``CheckResult``) and its one writer and
reader (``save_check``, ``load_check``, ``latest_check``) live in
``results.check``, re-exported here.
"""

from ..results.check import (FAIL, PASS, CheckReport, CheckResult, OutputComparison, RandomInputs, latest_check,
                             load_check, save_check)
from .analysis import RANDOM_ROWS, REL_DIFF_FLOOR, compare_outputs, judge
from .runner import run_check
from .table import LAYER_HEADERS, TABLE_HEADERS, format_layer_tables, format_table, repair_line, table_rows
from .tolerances import (DEFAULT_TOLERANCES, PRECISIONS, TOLERANCE_FIELDS, Tolerance, ToleranceError, parse_override,
                         parse_overrides, tolerance_for, tolerances_to_dict, tolerances_with_overrides)

__all__ = ["LAYER_HEADERS", "format_layer_tables", "repair_line", "DEFAULT_TOLERANCES", "FAIL", "PASS", "PRECISIONS", "RANDOM_ROWS", "REL_DIFF_FLOOR", "TABLE_HEADERS",
           "TOLERANCE_FIELDS", "CheckReport", "CheckResult", "OutputComparison", "RandomInputs", "Tolerance",
           "ToleranceError", "compare_outputs", "format_table", "judge", "latest_check", "load_check",
           "parse_override", "parse_overrides", "run_check", "save_check", "table_rows", "tolerance_for",
           "tolerances_to_dict", "tolerances_with_overrides"]
