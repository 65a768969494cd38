"""The `noxrunner-mcp` console script: runs the MCP server shipped in the
package (noxrunner/_bin/noxrunner-mcp, the C program) in place of this
process, with the package's sandbox agent unless $NOXRUNNER_AGENT names
another. Its flags and protocol are the program's (docs/mcp.md)."""
from __future__ import annotations

import os
import sys

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    prog = os.path.join(_PKG_DIR, "_bin", "noxrunner-mcp")
    if not os.access(prog, os.X_OK):
        sys.stderr.write(f"noxrunner-mcp: {prog} is missing; reinstall noxrunner\n")
        sys.exit(1)
    agent = os.path.join(_PKG_DIR, "_bin", "nox-sandbox")
    if not os.environ.get("NOXRUNNER_AGENT") and os.access(agent, os.X_OK):
        os.environ["NOXRUNNER_AGENT"] = agent
    os.execv(prog, [prog, *sys.argv[1:]])


if __name__ == "__main__":
    main()
