"""Entry point of the release binary (pyinstaller.spec builds it; scripts/build-binary runs that).

Order matters:
1. `multiprocessing.freeze_support()` first: a process Granian spawns runs
   this same executable, and must become the worker it was started as
   instead of parsing the command line again.
2. The self-check (gateway_cli/supply/selfcheck.py) before any command:
   every bundled file and the code archive against the embedded manifest,
   the trust root against its pin, the bundled distributions against the
   embedded lock and provenance. On a difference it prints one line and
   exits 1. A code archive damaged where the check itself is stored fails
   to load before it can run: that is a refusal too, never a traceback.
3. The same CLI as the `gateway` script.
"""

import sys


def main() -> None:
    try:
        import multiprocessing

        multiprocessing.freeze_support()

        from gateway_cli.supply.selfcheck import enforce

        enforce()
    except Exception as err:  # any failure to load the check is a refusal too
        sys.stderr.write(
            "gateway: refusing to run: this binary is damaged: the code that checks it cannot "
            f"be loaded ({type(err).__name__}: {err}); do not run this copy: download the "
            "release again and verify its signature (SECURITY.md, 'Verifying a downloaded "
            "binary')\n")
        sys.exit(1)

    from gateway_cli.cli.main import main as cli

    cli()


if __name__ == "__main__":
    main()
