"""`seqsetvae compare --against REF`: a paired A/B of two code versions.

revision        REF and a temporary checkout of it (git)
worker          one side's runs: ``python -m seqsetvae.stability.ab.worker`` in its checkout
timing_worker   one side's timed rounds, for the speed verdict
sides           both sides' workers started, fed and read
gate            the per-statistic tests and the before-merge verdict
sequential      seed blocks, error spending and Holm within a look
speed           the speed verdict on interleaved timed rounds
calibration     the gate's measured error rates (gate_calibration.json)
report          the Markdown report and its figure
"""
