"""`paramlens doctor`: which interpreter and torch ParamLens runs code with, and which isolation layers this
machine gives the sandbox (active, or missing and why), checked live by running a tiny file that tries to open a
socket and to write outside its directory."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import TextIO

from paramlens.explain.i18n import tr
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
    print(tr(locale, f"interpreter  {sys.executable} (Python {sys.version.split()[0]})",
             f"解释器  {sys.executable}（Python {sys.version.split()[0]}）"), file=out)
    print(tr(locale, f"torch        {torch_version() or 'not installed'}", f"torch   {torch_version() or '未安装'}"),
          file=out)
    executor = tr(locale, "warm worker (forks one isolated child per run)", "常驻工作进程（每次运行分出一个隔离的子进程）") \
        if hardened else tr(locale, "a fresh subprocess per run (weaker isolation: Landlock or seccomp is missing)",
                            "每次运行一个新子进程（隔离较弱：缺少 Landlock 或 seccomp）")
    print(tr(locale, f"executor     {executor}", f"执行方式  {executor}"), file=out)
    print(tr(locale, "isolation layers", "隔离层"), file=out)
    width = max(len(s.name) for s in statuses)
    for status in statuses:
        mark = tr(locale, "active ", "已启用") if status.active else tr(locale, "missing", "缺失  ")
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
        return tr(locale, f"live check   ok: a socket and a write outside the workspace were refused; layers in "
                          f"force: {layers}",
                  f"实际检查  通过：创建套接字和在工作区外写文件均被拒绝；生效的隔离层：{layers}")
    return tr(locale, f"live check   NOT isolated: status {report.execution.status}, {len(blocked)} of 2 operations "
                      f"refused, outside write {'happened' if wrote else 'refused'}; layers: {layers}",
              f"实际检查  未隔离：状态 {report.execution.status}，2 个操作中 {len(blocked)} 个被拒绝，工作区外写入"
              f"{'成功' if wrote else '被拒绝'}；隔离层：{layers}")
