"""`python -m gateway_cli` runs the same CLI as the `gateway` script."""

from gateway_cli.cli.main import main

if __name__ == "__main__":
    main()
