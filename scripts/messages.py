"""The message catalogue's maintenance: which messages the code uses, and whether zh_CN.po translates each of them.

    python scripts/messages.py check    # exit 1 and list problems (what tests/test_messages.py asserts)
    python scripts/messages.py update   # add new messages (empty msgstr, to translate), drop unused ones,
                                        # refresh the code references; keeps every existing translation

A message is the English string literal given to `t(locale, "...", **values)` anywhere in paramlens/ (adjacent
literals count as one). A message written any other way (an f-string, a variable) cannot be extracted and is
reported, so every text stays in the catalogue.
"""

from __future__ import annotations

import ast
import re
import string
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paramlens.messages import CATALOGUE, Entry, read_po, write_po  # noqa: E402

# English words allowed in Chinese messages: names of things (libraries, formats, APIs), not untranslated prose
ENGLISH_ALLOWED = {
    "paramlens", "pytorch", "torch", "python", "numpy", "landlock", "seccomp", "autograd", "notebook", "state",
    "dict", "meta", "pep", "lora", "relu", "tanh", "adam", "sgd", "xavier", "kaiming", "glorot", "json", "sarif",
    "cpu", "gpu", "cuda", "dns", "tcp", "none", "true", "false", "vmap", "grad", "safetensors", "timm", "fan_in",
    "fan_out", "gain", "std", "mean", "min", "max", "transformers", "torchvision", "lsp", "ema", "dtype", "batchnorm",
    "layernorm", "rmsnorm", "parameter", "module", "sequential", "linear", "conv", "pip", "pipx", "mlp", "rnn",
    "lstm", "gru", "functorch", "jit", "compile", "pickle", "unpickle", "alpha", "notimplemented", "unicode",
    "auto", "jupyter", "jupyterlab", "ipython", "nbformat", "shell", "markdown",
}


# calls whose string arguments (from this position on) are message ids: message_id("...") marks a message chosen
# before it is translated; plural(locale, n, "{n} tensor", "{n} tensors") picks one of two; an option's help
# (Option(name, kind, default, "help", ...)) and an OptionError's message are translated where they are shown
PLURAL_ARGUMENTS = {"message_id": 0, "plural": 2, "OptionError": 0, "Option": 3}


def code_messages(root: Path = ROOT / "paramlens") -> tuple[dict[str, list[str]], list[str]]:
    """Messages used by the code (-> where), and calls of t() whose message is not a literal."""
    used: dict[str, list[str]] = defaultdict(list)
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "t"):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if len(node.args) < 2:
                problems.append(f"{where}: t() without a message")
                continue
            message = node.args[1]
            if isinstance(message, ast.Constant) and isinstance(message.value, str):
                used[message.value].append(where)
            elif isinstance(message, ast.IfExp) and all(isinstance(side, ast.Constant) and isinstance(side.value, str)
                                                        for side in (message.body, message.orelse)):
                used[message.body.value].append(where)
                used[message.orelse.value].append(where)
            elif isinstance(message, (ast.Name, ast.Subscript, ast.Attribute, ast.IfExp)):
                continue  # a message chosen earlier, written as message_id("...") where it is chosen (found below)
            else:
                problems.append(f"{where}: the message is not a string literal")
        for node in ast.walk(tree):
            # messages chosen before the call (`text = message_id("...") if x else message_id("...")`; t(locale, text))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in PLURAL_ARGUMENTS:
                for arg in node.args[PLURAL_ARGUMENTS[node.func.id]:]:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        used[arg.value].append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return dict(used), problems


def placeholders(text: str) -> set[str]:
    return {field.split(".")[0].split("[")[0] for _, field, _, _ in string.Formatter().parse(text) if field}


CJK = re.compile(r"[\u4e00-\u9fff]")


def style_problems(msgid: str, msgstr: str) -> list[str]:
    """Chinese typography: bold that ends on full-width punctuation (CommonMark renderers, VS Code's included, then
    show the asterisks), ASCII punctuation inside Chinese sentences, English prose left untranslated."""
    found = []
    if re.search(r"\*\*[^*]*[：。，；！？、]\*\*", msgstr):
        found.append("bold run ends on full-width punctuation (write **标题**：)")
    # code, placeholders, options, identifiers (snake_case, camelCase, CamelCase, ALLCAPS, calls) are not prose
    outside = re.sub(r"`[^`]*`|\{[^}]*\}|--[\w-]+|\w+=\w+|\w*_\w*|\b[a-z]+[A-Z]\w*|\b[A-Z][a-z]+[A-Z]\w*|"
                     r"\b[A-Z0-9+]{2,}\b|\w+\(\)", "", msgstr)
    if re.search(r"[\u4e00-\u9fff][,;:!?](?=\s|$)|[\u4e00-\u9fff]\.(?=\s|$)", outside):
        found.append("ASCII punctuation after a Chinese character")
    if re.search(r"[\u4e00-\u9fff]\s*\((?!\))|(?<!\()\)\s*[\u4e00-\u9fff]", outside):
        found.append("ASCII parentheses around Chinese text (use （）)")
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z_]{3,}", outside) if w.lower() not in ENGLISH_ALLOWED]
    if words and CJK.search(msgstr):
        found.append("English left in the Chinese text: " + ", ".join(sorted(set(words))[:5]))
    return found


def check() -> list[str]:
    used, problems = code_messages()
    entries = {entry.msgid: entry for entry in read_po(CATALOGUE.read_text(encoding="utf-8"))}
    for msgid, where in sorted(used.items()):
        entry = entries.get(msgid)
        if entry is None or not entry.msgstr:
            problems.append(f"{where[0]}: no Chinese for {msgid[:80]!r}")
            continue
        if placeholders(msgid) != placeholders(entry.msgstr):
            problems.append(f"{where[0]}: placeholders differ: {sorted(placeholders(msgid))} vs "
                            f"{sorted(placeholders(entry.msgstr))} in {msgid[:60]!r}")
        for problem in style_problems(msgid, entry.msgstr):
            problems.append(f"{where[0]}: {problem}: {entry.msgstr[:80]!r}")
    for msgid in entries:
        if msgid not in used:
            problems.append(f"zh_CN.po: unused message {msgid[:80]!r} (run scripts/messages.py update)")
    return problems


def update() -> None:
    used, _ = code_messages()
    entries = {entry.msgid: entry for entry in read_po(CATALOGUE.read_text(encoding="utf-8"))}
    kept = []
    for msgid, where in sorted(used.items(), key=lambda item: item[1][0]):
        previous = entries.get(msgid)
        files = list(dict.fromkeys(place.split(":")[0] for place in where))
        kept.append(Entry(msgid, previous.msgstr if previous else "", files))
    CATALOGUE.write_text(write_po(kept), encoding="utf-8")
    missing = [entry.msgid for entry in kept if not entry.msgstr]
    print(f"{len(kept)} messages, {len(entries) - len(set(entries) & set(used))} dropped, {len(missing)} to translate")


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
    if command == "update":
        update()
        return 0
    problems = check()
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
