"""Student exercises for the NLP & Transformers module.

Each module is one lab concept; every function is a stub until you implement it. Check your
progress with ``pytest exercises`` (public checks in ``exercises/checks``).
"""

# The exercise modules, in the order reports list them (autograder/contract.py reads this).
__all__ = ["attention", "masks", "positional", "bpe", "decoding", "transformer"]
