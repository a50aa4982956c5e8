"""``python -m controller``: the same as the ``sockstat`` command."""

from controller.cli import main

if __name__ == "__main__":
    main()
