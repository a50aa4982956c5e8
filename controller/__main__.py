"""``python -m controller``: the same as the ``sockstat`` command."""

from controller.launch import main

if __name__ == "__main__":
    main()
