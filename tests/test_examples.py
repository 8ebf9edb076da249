"""Examples ParamLens builds in library files (no top-level driver): through a factory function that needs no
arguments, never through one that trains; when an example ParamLens chose fails, that is information about the
example (PL904), not an error in the file; when the user's own `# paramlens: example` fails, it is an error."""

from __future__ import annotations

import textwrap

from paramlens.analysis import AnalysisOptions, analyze

FACTORIES = textwrap.dedent("""\
    import torch
    from torch import nn


    class Net(nn.Module):
        def __init__(self, widths, classes=3):
            super().__init__()
            self.body = nn.Sequential(*[nn.Linear(a, b) for a, b in zip(widths, widths[1:])])
            self.head = nn.Linear(widths[-1], classes)


    def train_net(epochs=1):
        print("TRAINING RAN")
        model = Net([4, 8])
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(epochs):
            model.head(model.body(torch.rand(2, 4))).sum().backward()
            optimizer.step()
        return model


    def small_net(**kwargs):
        model = Net([4, 8, 8], **kwargs)
        return model
    """)

FAILING_DEFAULT = textwrap.dedent("""\
    import torch
    from torch import nn


    class Net(nn.Module):
        def __init__(self, n=3):
            super().__init__()
            assert n % 2 == 0, "n must be even"
            self.fc = nn.Linear(n, n)
    """)


def analysed(tmp_path, source, name="library.py"):
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    return analyze(source, str(path), AnalysisOptions(locale="en"))


def test_factory_builds_the_class_that_needs_arguments_and_training_is_never_called(tmp_path):
    report = analysed(tmp_path, FACTORIES)
    assert [m.name for m in report.modules] == ["small_net()"]
    [module] = report.modules
    import torch

    truth = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 8), torch.nn.Linear(8, 3))
    assert module.param_count == sum(p.numel() for p in truth.parameters())
    assert module.origin == "example" and module.class_name == "Net"
    assert not report.diagnostics


def test_failing_automatic_example_is_information(tmp_path):
    report = analysed(tmp_path, FAILING_DEFAULT)
    [diagnostic] = report.diagnostics
    assert diagnostic.code == "PL904" and diagnostic.severity == "information"
    assert diagnostic.span.line == FAILING_DEFAULT.splitlines().index("class Net(nn.Module):") + 1
    assert "`Net()`" in diagnostic.message and "n must be even" in diagnostic.message
    assert "# paramlens: example Net(" in diagnostic.message
    assert not report.has_errors


def test_failing_directive_is_an_error_and_a_working_one_builds(tmp_path):
    failing = analysed(tmp_path, FAILING_DEFAULT + "# paramlens: example Net(n=5)\n", "failing.py")
    assert [d.code for d in failing.diagnostics] == ["PL900"]
    working = analysed(tmp_path, FAILING_DEFAULT + "# paramlens: example Net(n=4)\n", "working.py")
    assert not working.diagnostics
    assert [(m.name, m.param_count) for m in working.modules] == [("Net(n=4)", 4 * 4 + 4)]


INHERITED = textwrap.dedent("""\
    from torch import nn


    class Layers(nn.Module):
        def __init__(self, dim, depth=2, **kwargs):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(dim, dim) for _ in range(depth)])


    class Encoder(Layers):
        def __init__(self, **kwargs):
            super().__init__(causal=False, **kwargs)


    class Decoder(Layers):
        pass


    class Head(Layers):
        def __init__(self, dim=4, **kwargs):
            super().__init__(dim, **kwargs)
    """)


def test_classes_whose_base_needs_an_argument_are_not_tried(tmp_path):
    """`Encoder()` / `Decoder()` would only raise `missing 1 required positional argument: 'dim'`; `Head()` gives
    the base its `dim` and is built."""
    report = analysed(tmp_path, INHERITED)
    assert not report.diagnostics
    assert [(m.name, m.param_count) for m in report.modules] == [("Head()", 2 * (4 * 4 + 4))]


CONFIG_GUESS = textwrap.dedent("""\
    from dataclasses import dataclass

    import torch
    from torch import nn


    @dataclass
    class ModelArgs:
        dim: int = 8
        n_layers: int = 2


    class RMSNorm(nn.Module):
        def __init__(self, dim: int, eps: float = 1e-6):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(dim))


    class Scale(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.scale = nn.Linear(width, width)


    class Transformer(nn.Module):
        def __init__(self, params):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(params.dim, params.dim) for _ in range(params.n_layers)])
    """)


def test_a_config_is_passed_only_where_a_config_is_wanted(tmp_path):
    """`Transformer(params)` gets `ModelArgs()`; `RMSNorm(dim: int)` and `Scale(width)` are not given one (they
    would fail or, worse, build something meaningless), so they are not tried and nothing is reported for them."""
    report = analysed(tmp_path, CONFIG_GUESS)
    assert not report.diagnostics, [d.message for d in report.diagnostics]
    assert [(m.name, m.param_count) for m in report.modules] == [("Transformer(ModelArgs())", 2 * (8 * 8 + 8))]


def test_classes_never_instantiated_are_listed_with_the_way_to_build_them(tmp_path):
    """A library file whose classes all need arguments shows no modules; the report says which classes were never
    built and how to build them, while a class built inside a factory's model is not listed."""
    source = FACTORIES + textwrap.dedent("""\


        class Unused(nn.Module):
            def __init__(self, width):
                super().__init__()
                self.fc = nn.Linear(width, width)
        """)
    report = analysed(tmp_path, source)
    never = [s for s in report.execution.skipped if "never instantiated" in s.reason]
    assert [s.line for s in never] == [source.splitlines().index("class Unused(nn.Module):") + 1]
    assert "# paramlens: example Unused(...)" in never[0].reason


def test_subclasses_of_torch_layers_without_their_own_init_are_not_tried(tmp_path):
    """whisper's `class Linear(nn.Linear): def forward(...)`: `Linear()` can only raise (nn.Linear needs its
    sizes), so it is not tried and not reported; a subclass of nn.Module without `__init__` still is."""
    source = textwrap.dedent("""\
        import torch
        from torch import nn


        class Linear(nn.Linear):
            def forward(self, x):
                return super().forward(x.float())


        class Stateless(nn.Module):
            def forward(self, x):
                return x * 2
        """)
    report = analysed(tmp_path, source)
    assert not report.diagnostics, [d.message for d in report.diagnostics]
    assert [m.name for m in report.modules] == ["Stateless()"]
    assert [s.line for s in report.execution.skipped if "never instantiated" in s.reason] == [5]
