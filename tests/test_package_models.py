"""Model files of packages, analysed in place as the module they are (issue 13).

`tests/packages/regpkg` is shaped like torchvision (its `__init__` imports every model file, whose factories
register into a registry that refuses a second entry under one name) and `tests/packages/tfpkg` like transformers
(classes that need a config from `configuration_*.py`, bases from another module). They run everywhere. The real
packages are analysed where they import (transformers is installed, pinned, by scripts/setup.sh; torchvision and
timm only where a build matching the CPU torch is installed). Torch is the oracle: a fresh interpreter builds the
same expression in the same module and reports counts, names, ties, buffers and state_dict keys.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import comparable_modules
from oracle import run_oracle
from paramlens.analysis import AnalysisOptions, analyze

PACKAGES = Path(__file__).parent / "packages"


def analysed(path: Path, **options) -> object:
    return analyze(path.read_text(encoding="utf-8"), str(path), AnalysisOptions(locale="en", **options))


def errors(report) -> list[str]:
    return [f"{d.code} {d.span.line}: {d.message}" for d in report.diagnostics if d.severity == "error"]


def oracle_modules(root: Path | None, module: str, expressions: list[str], device: str) -> list[dict]:
    """What torch builds for each expression, evaluated in the imported module's namespace (the same class with
    the same arguments), on the device ParamLens used."""
    lines = ["import importlib, sys", "import torch"]
    if root is not None:
        lines.append(f"sys.path.insert(0, {str(root)!r})")
    lines.append(f"_namespace = vars(importlib.import_module({module!r}))")
    for number, expression in enumerate(expressions):
        lines.append(f"with torch.device({device!r}):")
        lines.append(f"    model_{number} = eval({expression!r}, _namespace)")
    result = run_oracle("\n".join(lines) + "\n", timeout=600)
    return result.modules


def assert_models_match_torch(report, root: Path | None, module: str) -> None:
    assert report.modules, report.execution.nothing_built
    device = report.execution.device or "cpu"
    truth = oracle_modules(root, module, [m.name for m in report.modules], device)
    observed = comparable_modules(report.modules)
    assert len(truth) == len(observed)
    for mine, theirs in zip(observed, truth):
        for key in ("class", "param_count", "param_count_with_duplicates", "parameters", "tied", "buffers",
                    "state_dict_keys"):
            assert mine[key] == theirs[key], (mine["name"], key)


# -- a torchvision-shaped package with a registry that refuses duplicates -----------------------------------------

def test_a_package_module_runs_once_under_its_own_name_and_its_registry_accepts_it():
    path = PACKAGES / "regpkg" / "models" / "resnet.py"
    report = analysed(path)
    assert errors(report) == []
    assert report.execution.module == "regpkg.models.resnet"
    # every factory is listed; the one built is the family's middle depth, not the first
    assert [f.name for f in report.factories][0] == "resnet50"
    assert {f.name for f in report.factories} == {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                                                  "wide_resnet50_2"}
    assert [f.name for f in report.factories if f.built] == ["resnet50"]
    assert [m.name for m in report.modules] == ["resnet50()"]
    assert_models_match_torch(report, PACKAGES, "regpkg.models.resnet")


def test_a_subclass_whose_base_comes_from_another_module_is_a_module_class():
    path = PACKAGES / "regpkg" / "models" / "quantization" / "resnet.py"
    report = analysed(path)
    assert errors(report) == []
    assert [m.class_name for m in report.modules] == ["QuantizableResNet"]
    classes = {e.facts["name"] for e in report.explanations if e.pattern == "module_class"}
    assert {"QuantizableResNet", "QuantizableBasicBlock", "QuantizableBottleneck"} <= classes
    assert_models_match_torch(report, PACKAGES, "regpkg.models.quantization.resnet")


def test_torchvisions_zero_init_residual_loop_is_explained_when_the_example_enables_it():
    path = PACKAGES / "regpkg" / "models" / "resnet.py"
    report = analysed(path, example="resnet18(zero_init_residual=True)")
    assert errors(report) == [] and [m.name for m in report.modules] == ["resnet18(zero_init_residual=True)"]
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1)
                if "nn.init.constant_(m.bn2.weight, 0)" in text)
    site = next(e for e in report.explanations if e.pattern == "init" and e.span.line == line)
    zeroed = [call["owner"][0] for call in site.facts["calls"]]
    assert zeroed == [f"self.layer{i}.{j}.bn2.weight" for i in range(1, 5) for j in range(2)]
    assert all(call["after"]["zeros"] == call["after"]["numel"] for call in site.facts["calls"])
    assert_models_match_torch(report, PACKAGES, "regpkg.models.resnet")


def copy_package(tmp_path: Path, name: str) -> Path:
    shutil.copytree(PACKAGES / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_example_is_chosen_with_a_comment_or_in_the_editor(tmp_path):
    root = copy_package(tmp_path, "regpkg")
    path = root / "regpkg" / "models" / "resnet.py"
    chosen = analysed(path, example="resnet101")
    assert [m.name for m in chosen.modules] == ["resnet101()"] and errors(chosen) == []
    assert [f.name for f in chosen.factories if f.built] == ["resnet101"]
    path.write_text(path.read_text() + "\n# paramlens: example resnet18(num_classes=3)\n")
    commented = analysed(path)
    assert [m.name for m in commented.modules] == ["resnet18(num_classes=3)"] and errors(commented) == []
    assert len(commented.factories) == 6 and [f.name for f in commented.factories if f.built] == ["resnet18"]
    assert_models_match_torch(commented, root, "regpkg.models.resnet")


def test_the_main_block_of_a_package_module_runs_after_the_import(tmp_path):
    root = copy_package(tmp_path, "regpkg")
    path = root / "regpkg" / "models" / "tiny.py"
    path.write_text(path.read_text() + textwrap.dedent("""

        if __name__ == "__main__":
            from regpkg.models import list_models
            print(list_models())
            model = tiny(width=3)
        """))
    report = analysed(path)
    assert errors(report) == []
    assert [m.name for m in report.modules] == ["model"]
    truth = oracle_modules(root, "regpkg.models.tiny", ["tiny(width=3)"], "cpu")
    assert comparable_modules(report.modules)[0]["parameters"] == truth[0]["parameters"]


def test_a_package_whose_own_import_fails_still_runs_the_file_and_says_why(tmp_path):
    root = copy_package(tmp_path, "regpkg")
    (root / "regpkg" / "__init__.py").write_text("raise RuntimeError('the compiled ops of regpkg do not load')\n")
    report = analysed(root / "regpkg" / "models" / "tiny.py")
    assert errors(report) == []
    assert {d.code for d in report.diagnostics} == {"PL903"}
    assert "RuntimeError: the compiled ops of regpkg do not load" in report.execution.message
    assert [m.name for m in report.modules] == ["TinyNet()"]  # the class statement did not need the package
    models = root / "regpkg" / "models"
    (models / "resnet.py").write_text(textwrap.dedent("""\
        from ._api import register_model
        from torch import nn


        @register_model()
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)
        """))
    broken = analysed(models / "resnet.py")
    assert errors(broken) == [] and not broken.modules
    assert broken.execution.nothing_built.startswith("importing the package `regpkg.models` raised RuntimeError")


# -- a transformers-shaped package ---------------------------------------------------------------------------------

def test_a_class_that_needs_a_config_from_another_file_is_built_with_its_defaults():
    path = PACKAGES / "tfpkg" / "models" / "tiny" / "modeling_tiny.py"
    report = analysed(path)
    assert errors(report) == []
    assert report.execution.module == "tfpkg.models.tiny.modeling_tiny"
    # the task model, then the base model inside it (both TinyPreTrainedModels), each with the default config
    assert [m.name for m in report.modules] == ["TinyForCausalLM(TinyConfig())", "TinyModel(TinyConfig())"]
    model = report.modules[0]
    assert model.tied == [["model.embed_tokens.weight", "lm_head.weight"]]
    assert [b.persistent for b in model.buffers] == [False, False]
    assert_models_match_torch(report, PACKAGES, "tfpkg.models.tiny.modeling_tiny")
    classes = {e.facts["name"] for e in report.explanations if e.pattern == "module_class"}
    assert {"TinyModel", "TinyForCausalLM", "TinyPreTrainedModel", "TinyLayer"} <= classes
    # post_init(): the class's _init_weights on every submodule (what each initialiser wrote), then the tie
    post_init = {e.span.line: e for e in report.explanations if e.pattern == "post_init"}
    base, task = post_init[48].facts, post_init[61].facts
    assert base["init_weights"] == "TinyPreTrainedModel._init_weights" and base["init_calls"] == 23
    assert base["calls"] == {"fill_": 3, "normal_": 10, "zero_": 12} and (base["written"], base["tensors"]) == (24, 26)
    assert task["tied"] == model.tied and task["init_calls"] == 2  # the base model inside was initialised already
    assert "Ran `TinyPreTrainedModel._init_weights` on 23 of the 23 modules of `TinyModel`" in post_init[48].markdown
    assert "- `model.embed_tokens.weight` and `lm_head.weight`: one Parameter" in post_init[61].markdown
    register = next(e for e in report.explanations if e.pattern == "register")
    assert register.facts["persistent"][0] is False and "not saved (persistent=False)" in register.markdown


def test_the_config_class_of_the_paired_configuration_module():
    path = PACKAGES / "tfpkg" / "models" / "pair" / "modeling_pair.py"
    report = analysed(path)
    assert [m.name for m in report.modules] == ["PairModel(PairConfig())"] and errors(report) == []
    truth = oracle_modules(PACKAGES, "tfpkg.models.pair.configuration_pair", ["__import__('tfpkg.models.pair.modeling_pair', fromlist=['x']).PairModel(PairConfig())"], "cpu")
    assert comparable_modules(report.modules)[0]["parameters"] == truth[0]["parameters"]


def test_a_file_with_nothing_to_build_says_why_in_one_line(tmp_path):
    root = copy_package(tmp_path, "tfpkg")
    needs = root / "tfpkg" / "blocks.py"
    needs.write_text("from torch import nn\n\n\nclass Block(nn.Module):\n    def __init__(self, dim, heads):\n"
                     "        super().__init__()\n        self.fc = nn.Linear(dim, dim * heads)\n")
    report = analysed(needs)
    assert not report.modules and errors(report) == []
    assert report.execution.nothing_built == ("the file's module classes need arguments ParamLens cannot guess "
                                              "(`Block`) and the file has no factory that needs none; choose them "
                                              "with a comment `# paramlens: example Block(...)`")
    helper = tmp_path / "helper.py"
    helper.write_text("import torch\n\n\ndef scale(x):\n    return x * 2\n")
    plain = analysed(helper)
    assert plain.execution.nothing_built == "the file defines no nn.Module subclass and builds no model"


# -- the real packages, where they import ------------------------------------------------------------------------

def importable(package: str) -> str | None:
    """None when `package` imports in this interpreter, else why not (the tests that need it are skipped)."""
    if importlib.util.find_spec(package) is None:
        return f"{package} is not installed in this interpreter"
    completed = subprocess.run([sys.executable, "-c", f"import {package}"], capture_output=True, text=True,
                               timeout=300)
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["?"])[-1]
        return f"{package} does not import in this interpreter ({last})"
    return None


def package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations
    return Path(list(spec.submodule_search_locations)[0]) / relative


REAL_FILES = [
    ("transformers", "models/bert/modeling_bert.py"),
    ("transformers", "models/gpt2/modeling_gpt2.py"),
    ("transformers", "models/llama/modeling_llama.py"),
    ("torchvision", "models/resnet.py"),
    ("torchvision", "models/vision_transformer.py"),
    ("torchvision", "models/mobilenetv3.py"),
    ("torchvision", "models/convnext.py"),
    ("timm", "models/resnet.py"),
    ("timm", "models/vision_transformer.py"),
    ("timm", "models/deit.py"),
]
_IMPORTABLE: dict[str, str | None] = {}


@pytest.mark.parametrize("package,relative", REAL_FILES, ids=[f"{p}/{r}" for p, r in REAL_FILES])
def test_real_package_model_files_in_place(package, relative):
    if package not in _IMPORTABLE:
        _IMPORTABLE[package] = importable(package)
    if _IMPORTABLE[package] is not None:
        pytest.skip(_IMPORTABLE[package])
    path = package_file(package, relative)
    report = analyze(path.read_text(encoding="utf-8"), str(path), AnalysisOptions(locale="en", timeout_seconds=300))
    assert errors(report) == [], errors(report)
    module = package + "." + relative[:-3].replace("/", ".")
    assert report.execution.module == module
    assert_models_match_torch(report, None, module)
    if package == "transformers" and relative.endswith("modeling_bert.py"):
        # the class a reader has in mind is built inside the heads: BertModel(BertConfig()) is 109,482,240
        # parameters in torch itself
        # (its count, 109,482,240, is compared with torch's above like every other model built)
        assert "BertModel(BertConfig())" in [m.name for m in report.modules]
        # post_init() ties the decoder to the word embeddings (the same pairs torch reports for the model), and
        # says that _init_weights did not run: transformers skips initialisation on the meta device
        masked = next(m for m in report.modules if m.name == "BertForMaskedLM(BertConfig())")
        sites = [e for e in report.explanations if e.pattern == "post_init" and e.facts["class"] == "BertForMaskedLM"]
        assert len(sites) == 1 and sorted(sites[0].facts["tied"]) == sorted(masked.tied)
        if report.execution.device == "meta":
            assert sites[0].facts["init_calls"] == 0 and "did not run" in sites[0].markdown
        # `self.position_ids = nn.Buffer(..., persistent=False)`: registered on assignment, kept out of state_dict
        registered = {e.facts["names"][0]: e.facts["persistent"][0] for e in report.explanations
                      if e.pattern == "register"}
        assert registered == {"position_ids": False, "token_type_ids": False}
        base = next(m for m in report.modules if m.name == "BertModel(BertConfig())")
        assert {b.name.rsplit(".", 1)[-1]: b.persistent for b in base.buffers} == registered
    if package == "transformers" and relative.endswith("modeling_llama.py"):
        assert report.execution.device == "meta"


def test_an_annotated_attribute_assignment_is_not_probed_as_a_value(tmp_path):
    # found on transformers' modeling_eomt_dinov3.py: `self.weight_dict: dict[str, float] = {...}` names `.weight...`
    # in its target; probing the target made the instrumented statement a SyntaxError (a false PL900)
    path = tmp_path / "annotated.py"
    path.write_text(textwrap.dedent("""\
        from torch import nn


        class Head(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 3)
                self.weight_dict: dict[str, float] = {"loss": 1.0}
                self.fc.weight.data: object = self.fc.weight.data * 2
        """))
    report = analysed(path)
    assert errors(report) == [] and [m.name for m in report.modules] == ["Head()"]
    assert report.modules[0].param_count == 9


def test_post_init_of_a_transformers_model_on_the_cpu(tmp_path):
    if (why := importable("transformers")) is not None:
        pytest.skip(why)
    path = tmp_path / "tiny_bert.py"
    path.write_text(textwrap.dedent("""\
        from torch import nn
        from transformers import BertConfig, BertModel, BertPreTrainedModel


        class TinyClassifier(BertPreTrainedModel):
            def __init__(self, config):
                super().__init__(config)
                self.bert = BertModel(config)
                self.head = nn.Linear(config.hidden_size, 2)
                self.post_init()


        model = TinyClassifier(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                          intermediate_size=37))
        """))
    report = analysed(path, timeout_seconds=300)
    assert errors(report) == [] and report.execution.device == "cpu"
    site = next(e for e in report.explanations if e.pattern == "post_init")
    # the inner BertModel initialised itself in its own post_init(); this one reaches only the new head
    assert site.facts["init_weights"] == "BertPreTrainedModel._init_weights" and site.facts["init_calls"] == 1
    model = report.modules[0]
    assert site.facts["written"] == 2 and site.facts["tensors"] == len(model.parameters) + len(model.buffers)
    assert "the way transformers initialises a model it builds from a config" in site.markdown
