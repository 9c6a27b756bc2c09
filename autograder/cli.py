"""Command line interface `autograder` (filled in by the grading engine)."""
import click


@click.group()
def main() -> None:
    """Grade NLP & Transformers submissions."""
