"""One module per pattern. Order matters only where two recognizers could claim the same node for a probe:
the walker lets the first probing finding on a node win, so specific patterns come before general ones."""

from paramlens.analyzers.recognizers import (
    apply_fn,
    checkpoints,
    freezing,
    optimizers,
    registration,
    tie_assignment,
    cell_value,
    construction,
    data_mutation,
    forward_call,
    init_calls,
    module_iteration,
    nested_blocks,
    param_access,
    print_module,
    shared_modules,
    state_dict,
    type_check,
)

RECOGNIZERS = [
    tie_assignment,
    data_mutation,
    registration,
    freezing,
    checkpoints,
    optimizers,
    apply_fn,
    init_calls,
    state_dict,
    module_iteration,
    nested_blocks,
    param_access,
    construction,
    shared_modules,
    print_module,
    cell_value,
    forward_call,
    type_check,
]
