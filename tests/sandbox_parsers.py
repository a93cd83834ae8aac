"""A toy format whose documents tell their parser how to misbehave, for the parse sandbox tests.

A parse runs in a sandbox process, which does not share the test's memory: a parser defined in
a test (or a monkeypatched ``indexflow.parsers.parse``) would never run there. This module is
importable by the sandbox's children (they get the parent's ``sys.path``), so a test registers
:data:`TOY` (``with registry.registered(TOY):``): the registration travels with each request and
the child imports :func:`parse_toy` by name. Production code is not involved: the child runs the
same :func:`indexflow.parsers.parse` as for any plug-in format.

A ``.toy`` document starts with directive lines, then plain text parsed as a text document:

    #! log /tmp/calls.log     append this document's name to that file (counts parser calls)
    #! sleep 3.5              busy for 3.5 s (a loop in Python, as a runaway parser would be)
    #! alloc 4096             allocate 4096 MB, 16 MB at a time, and hold it
    #! kill                   SIGKILL itself (a crash, or the kernel's OOM killer)
    #! raise ParseError why   raise that indexflow.errors class with that message
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from indexflow import errors
from indexflow.domain.components import ParsedDocument
from indexflow.parsers import text
from indexflow.parsers.base import Limits
from indexflow.parsers.detect import Sniffed
from indexflow.parsers.registry import Format

TOY = Format("toy", "Toy", ("toy",), "tests.sandbox_parsers:parse_toy")


def toy_document(body: str, *directives: str) -> bytes:
    """A .toy document: ``#! <directive>`` lines, then ``body``."""
    return "".join(f"#! {d}\n" for d in directives).encode() + body.encode()


def parse_toy(data: bytes, filename: str | None, limits: Limits, sniffed: Sniffed) -> ParsedDocument:
    lines = data.decode().split("\n")
    held: list[bytearray] = []
    while lines and lines[0].startswith("#! "):
        verb, _, arg = lines.pop(0)[3:].partition(" ")
        if verb == "log":
            with Path(arg).open("a") as log:
                log.write(f"{Path(filename or '').name}\n")
        elif verb == "sleep":
            until = time.monotonic() + float(arg)
            while time.monotonic() < until:
                time.sleep(0.01)
        elif verb == "alloc":
            for _ in range(int(arg) // 16):
                held.append(bytearray(16 * 1024 * 1024))
        elif verb == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif verb == "raise":
            name, _, message = arg.partition(" ")
            raise getattr(errors, name)(message)
    rest = "\n".join(lines).encode()
    parsed = text.parse(rest, filename, limits, Sniffed("text", rest.decode()))
    return ParsedDocument("toy", parsed.components, parsed.title, parsed.metadata)
