"""``make bench``: run every benchmark and print its figures."""

from __future__ import annotations

from bench import startup

if __name__ == "__main__":
    startup.main()
