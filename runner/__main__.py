"""`python -m runner` is `wasirun`."""
from runner.cli import main

main()
