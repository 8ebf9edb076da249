"""Writes examples/parameter_management.ipynb: the "Parameter Management" chapter of Dive into Deep Learning (the seed,
shared/seed/) as a Jupyter notebook, its Chinese headings as markdown cells and its code cells as the chapter has
them, with the outputs of a real run in an IPython kernel (nbclient + ipykernel, as Jupyter runs a notebook).

The run is the author's session the notebook records: every code cell once, top to bottom, except the cell
`net[0].weight.data[:] += 1`, which is run twice in a row, as learners do (the chapter the seed copies shows it
applied three times). Its execution count therefore jumps by two, and its stored output, and those of the cells
after it that print the same weights, show `+= 1` applied twice.

Before the first cell the kernel runs, without recording it, what ParamLens' sandbox runs before a program:
`random.seed(0); torch.manual_seed(0); torch.set_num_threads(1)`. So the stored random values are the ones ParamLens'
fresh run draws, and the only stored outputs that differ from a fresh Run All are the twice-run cell's and those
that follow from it. (A notebook saved from an unseeded session differs wherever random numbers are printed; ParamLens
says so, PL921.)

usage: .venv/bin/python scripts/make_example_notebook.py   (needs ipykernel and nbclient: `pip install -e .[e2e]`)
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat import v4

OUT = Path(__file__).resolve().parent.parent / "examples" / "parameter_management.ipynb"
RUN_TWICE = "net[0].weight.data[:] += 1\nprint(net[0].weight)"
SETUP = "import random as _r, torch as _t\n_r.seed(0); _t.manual_seed(0); _t.set_num_threads(1)\ndel _r, _t"

CELLS: list[tuple[str, str]] = [
    ("markdown", "# 参数管理\n\n首先关注具有单隐藏层的多层感知机"),
    ("code", "import torch\nfrom torch import nn"),
    ("code", "net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8,1))"),
    ("code", "X = torch.rand(size=(2,4))\nnet(X)"),
    ("code", "print(X)"),
    ("markdown", "## 参数访问"),
    ("code", "print(net[2].state_dict())"),
    ("markdown", "### 目标参数"),
    ("code", 'print("type(net[2].bias):",type(net[2].bias),"\\n")\nprint("net[2].bias:","\\n",net[2].bias,"\\n")\n'
             'print("net[2].bias.data:","\\n",net[2].bias.data,"\\n")'),
    ("code", "net[2].weight.grad == None"),
    ("markdown", "### 一次性访问所有参数"),
    ("code", "print(*[(name, param.shape) for name, param in net[0].named_parameters()])"),
    ("code", "print(*[(name, param.shape) for name, param in net.named_parameters()])"),
    ("code", "net.state_dict()['2.bias'].data"),
    ("markdown", "### 从嵌套块收集参数"),
    ("code", "def block1():\n    return nn.Sequential(nn.Linear(4,8), \n                         nn.ReLU(), \n"
             "                         nn.Linear(8,4),\n                         nn.ReLU()\n                        )\n"),
    ("code", "def block2():\n    net = nn.Sequential()\n    for i in range(4):\n"
             "        net.add_module(f'block {i}', block1())\n    return net\n"),
    ("code", "rgnet = nn.Sequential(block2(), nn.Linear(4,1))\nrgnet(X)"),
    ("code", "print(rgnet)"),
    ("markdown", "## 参数初始化\n\n### 内置初始化"),
    ("code", "def init_normal(m):\n    if type(m) == nn.Linear:\n        nn.init.normal_(m.weight, mean=0, std=0.01)\n"
             "        nn.init.zeros_(m.bias)\n        "),
    ("code", "net.apply(init_normal)"),
    ("code", "net[0].weight.data[0], net[0].bias.data[0]"),
    ("code", "def init_constant(m):\n    if type(m) == nn.Linear:\n        nn.init.constant_(m.weight, 1)\n"
             "        nn.init.zeros_(m.bias)"),
    ("code", "net.apply(init_constant)"),
    ("code", "net[0].weight.data[0], net[0].bias.data[0]"),
    ("markdown", "对某些块应用不同的初始化方法"),
    ("code", "def xavier(m):\n    if type(m) == nn.Linear:\n        nn.init.xavier_uniform_(m.weight)"),
    ("code", "def init_42(m):\n    if type(m) == nn.Linear:\n        nn.init.constant_(m.weight, 42)"),
    ("code", "net[0].apply(xavier)"),
    ("code", "net[2].apply(init_42)"),
    ("code", "print(net[0].weight.data[0])\nprint(net[2].weight.data)"),
    ("markdown", "### 自定义初始化"),
    ("code", 'def my_init(m):\n    if type(m) == nn.Linear:\n        print(\n            "init",\n'
             '            *[(name, param.shape) for name, param in m.named_parameters()][0]\n        )\n'
             '        nn.init.uniform_(m.weight, -10, 10)\n        m.weight.data *= m.weight.data.abs() >= 5'),
    ("code", "net.apply(my_init)"),
    ("code", "net[0].weight[:2]"),
    ("code", RUN_TWICE),
    ("code", "net[0].weight.data[0,0] = 42\nprint(net[0].weight)"),
    ("code", "net[0].weight.data[0]"),
    ("markdown", "## 参数绑定"),
    ("code", "shared = nn.Linear(8, 8)"),
    ("code", "net = nn.Sequential(nn.Linear(4, 8),\n                    nn.ReLU(),\n                    shared,\n"
             "                    nn.ReLU(),\n                    shared,\n                    nn.ReLU(),\n"
             "                    nn.Linear(8,1)\n                   )"),
    ("code", "net(X)"),
    ("code", "print(net[2].weight.data[0] == net[4].weight.data[0])"),
    ("code", "net[2].weight.data[0, 0] = 100"),
    ("code", "print(net[2].weight.data[0] == net[4].weight.data[0])"),
]


def main() -> int:
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient

    notebook = v4.new_notebook()
    notebook.metadata.update({
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": {"name": "python"},
        "paramlens": {"outputs": "a real run in an IPython kernel (scripts/make_example_notebook.py): every code cell "
                                 "once, top to bottom, after random.seed(0) and torch.manual_seed(0) as ParamLens "
                                 "seeds a run, except `net[0].weight.data[:] += 1`, run twice in a row"},
    })
    notebook.cells = [v4.new_markdown_cell(text) if kind == "markdown" else v4.new_code_cell(text)
                      for kind, text in CELLS]
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", allow_errors=False)
    with client.setup_kernel():
        # silent: no execution count, no output, nothing in the notebook
        reply = run_sync(client.kc.execute_interactive)(SETUP, silent=True, store_history=False, timeout=120)
        if reply["content"]["status"] != "ok":
            raise SystemExit(f"the setup did not run: {reply['content']}")
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            runs = 2 if cell.source == RUN_TWICE else 1
            for _ in range(runs):
                cell.outputs = []  # Jupyter replaces a cell's outputs when it runs again
                client.execute_cell(cell, index)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
    nbformat.validate(notebook)
    nbformat.write(notebook, OUT)
    counts = [cell.execution_count for cell in notebook.cells if cell.cell_type == "code"]
    print(f"wrote {OUT}: {len(notebook.cells)} cells, execution counts {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
