"""``python -m dalston.cli``: the ``dalston`` command without its console script."""

from dalston.cli.main import main

if __name__ == "__main__":
    main()
