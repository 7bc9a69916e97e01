"""Benchmarks: how well the pump does its job and how fast the tools let people check it.

`make bench` runs every figure, prints a table and writes out/bench/results.json. Figures are
measured here, never asserted as timings inside `make test`.
"""
