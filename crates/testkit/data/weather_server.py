"""A small MCP server built with the official Python SDK (PyPI `mcp`), for the tests.

Usage: weather_server.py            (stdio)
       weather_server.py http PORT  (streamable HTTP on 127.0.0.1:PORT, path /mcp)
"""
import sys

from mcp.server.fastmcp import FastMCP

server = FastMCP("weather")


@server.tool()
def forecast(city: str) -> str:
    """One-line weather forecast for a city."""
    return f"Sunny, 21 C in {city}"


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def fail(reason: str) -> str:
    """Always fails with the given reason."""
    raise ValueError(reason)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        server.settings.host = "127.0.0.1"
        server.settings.port = int(sys.argv[2])
        server.run(transport="streamable-http")
    else:
        server.run()
