"""`paramlens doctor`: which interpreter and torch ParamLens runs code with, and which isolation layers this
machine gives the sandbox (active, or missing and why), checked live by running a tiny file that tries to open a
socket and to write outside its directory."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import TextIO

from paramlens.messages import message_id, t
from paramlens.sandbox.isolation import hardened_available, probe

LIVE_CHECK = """import socket
import torch
net = torch.nn.Linear(2, 2)


def connect():
    socket.socket()


def write():
    open({outside!r}, "w")


connect()
write()
"""


def run(locale: str, out: TextIO = sys.stdout, live: bool = True) -> int:
    """Print the report; exit status 0 when the hardened sandbox is active, 1 when a weaker one is used."""
    from paramlens.report import torch_version

    statuses = probe()
    hardened = hardened_available(statuses)
    print(t(locale, "interpreter  {executable} (Python {version})", executable=sys.executable, version=sys.version.split()[0]), file=out)
    print(t(locale, "torch        {version}", version=torch_version() or t(locale, "not installed")), file=out)
    executor = t(locale, "warm worker (forks one isolated child per run)") \
        if hardened else t(locale, "a fresh subprocess per run (weaker isolation: Landlock or seccomp is missing)")
    print(t(locale, "executor     {executor}", executor=executor), file=out)
    print(t(locale, "isolation layers"), file=out)
    width = max(len(s.name) for s in statuses)
    for status in statuses:
        mark = t(locale, "active ") if status.active else t(locale, "missing")
        print(f"  {status.name:<{width}}  {mark}  {status.detail}", file=out)
    if live:
        print(_live_check(locale), file=out)
    return 0 if hardened else 1


def _live_check(locale: str) -> str:
    """Run a file that tries two forbidden things through the real pipeline and say what happened."""
    from paramlens.analysis import AnalysisOptions, analyze

    with tempfile.TemporaryDirectory(prefix="paramlens-doctor-") as workspace, \
            tempfile.TemporaryDirectory(prefix="paramlens-doctor-outside-") as outside:
        path = os.path.join(workspace, "doctor_check.py")
        target = os.path.join(outside, "written.txt")
        source = LIVE_CHECK.format(outside=target)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(source)
        report = analyze(source, path, AnalysisOptions(timeout_seconds=60, device="cpu"))
        wrote = os.path.exists(target)
    blocked = [d for d in report.diagnostics if d.code == "PL902"]
    layers = ", ".join(report.execution.isolation) or "-"
    if report.modules and len(blocked) == 2 and not wrote:
        return t(locale, "live check   ok: a socket and a write outside the workspace were refused; layers in force: "
                 "{layers}", layers=layers)
    text = message_id("live check   NOT isolated: status {status}, {refused} of 2 operations refused, the write "
                      "outside the workspace happened; layers: {layers}") if wrote else \
        message_id("live check   NOT isolated: status {status}, {refused} of 2 operations refused, the write outside "
                   "the workspace was refused; layers: {layers}")
    return t(locale, text, status=report.execution.status, refused=len(blocked), layers=layers)
