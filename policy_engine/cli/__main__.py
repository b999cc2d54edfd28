"""`python -m policy_engine.cli` runs the command line (as the console script does)."""

from policy_engine.cli import run

run()
