"""Instructor solutions: the same names and signatures as `exercises/`, written to be read.

`reference.mistakes` holds known-wrong variants, one per mistake id of the exercise contract.
"""
