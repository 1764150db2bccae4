"""`seqsetvae gate REF`: a paired A/B of two code versions (verdicts: ..engine).

revision        REF and a temporary checkout of it (git)
worker          REF's runs: ``python -m seqsetvae.stability.ab.worker``, started in REF's
                checkout by the pool (..checkout_runs); this file is what a later gate runs
serving_worker  the same, many runs per process (the pool keeps it when REF has it)
timing_worker   one side's timed rounds, for the speed verdict
sides           both sides' runs through the one pool; the timed rounds' workers
speed           the timed rounds' order and their speed verdict
calibration     the gate's measured error rates (gate_calibration.json)

Its report is rendered by ..report.gate.
"""
