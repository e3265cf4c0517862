"""``python -m hastack``: the same CLI as the ``hastack`` console script."""

from hastack.cli import main

if __name__ == "__main__":
    main()
