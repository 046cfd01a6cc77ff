"""Everything a person reads: number and speed wording, tables, figures, the
decision table and the Markdown report.

- ``wording``: plain words for numbers ("3.2x faster", "91.36%", "1.23 GFLOP"), once.
- ``tables``: bench results as rows, fastest first, against keras_predict (``bench`` prints them).
- ``decide``: per model and constraint, which artifact and runtime to ship, and why.
- ``scenario_decide``: the decision table's LoadGen rows (most QPS under a p99 bound, most offline rows/s).
- ``figures``: the report's PNG figures (matplotlib Agg).
- ``markdown``: Markdown tables, image links and "missing input" lines.
- ``sections``: the report's sections, from the typed records of ``results``.
- ``report``: ``write_report``: finds the newest inputs and writes ``report.md`` with its figures.

Inputs are read only through the typed records of ``results`` (bench, check,
explain); nothing here measures anything.
"""
