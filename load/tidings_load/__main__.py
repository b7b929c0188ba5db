"""``python -m tidings_load -f <locustfile> [locust options]``: runs Locust, and ``--help`` lists the
suite's own options with Locust's.

``locust -f <suite> --help`` cannot list them: Locust prints its help before it imports the locustfile
whose ``init_command_line_parser`` listeners declare them. Here the locustfile is imported first.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def _locustfile(args: list[str]) -> str | None:
    for i, arg in enumerate(args):
        if arg in ("-f", "--locustfile") and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--locustfile="):
            return arg.split("=", 1)[1]
    return None


def main(args: list[str]) -> int:
    path = _locustfile(args)
    if "-h" in args or "--help" in args:
        if path is None:
            sys.stderr.write("usage: python -m tidings_load -f <locustfile> --help\n")
            return 2
        from locust.argument_parser import get_parser

        spec = importlib.util.spec_from_file_location(Path(path).stem, path)
        if spec is None or spec.loader is None:
            sys.stderr.write(f"cannot load {path}\n")
            return 2
        spec.loader.exec_module(importlib.util.module_from_spec(spec))  # registers the suite's options
        parser = get_parser(default_config_files=[])
        # Locust leaves environment variables out of its help; the suite options name theirs.
        for action in parser._actions:
            env_var = getattr(action, "env_var", None)
            if env_var and env_var.startswith("TIDINGS_LOAD_") and action.help:
                action.help = f"{action.help} [env {env_var}]"
        parser.print_help()
        return 0
    from locust.main import main as locust_main

    sys.argv = ["locust", *args]
    return locust_main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
