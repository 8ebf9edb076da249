"""Explainers, grouped by family: modules (construction, forward, nesting, sharing), parameters (attribute
access and values), state (state_dict and the iterators), initialisation (apply, nn.init, in-place edits)."""
