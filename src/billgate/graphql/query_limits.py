"""One validation rule for depth, aliases and cost, linear in the document's size.

Strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter`` walk every fragment spread
anew, so ``fragment F0 {...F1 ...F1}`` twenty levels deep costs 2^20 walks (10 s for a
170-token query, STACK-NOTES.md). Here each selection set is summarised once and each
fragment's summary is memoised, so a fragment spread costs a dictionary look-up however
often it is spread. The summary's numbers are what the expanded query *would* cost, so a
fan-out is measured (and refused) without being expanded.

- depth: the deepest field below a root field (the root field is 0), introspection
  fields (``__schema``, ``__typename``) and what is below them not counted, as Strawberry
  counts it;
- aliases: aliased fields, fragments expanded, over the whole document;
- cost: fields, fragments expanded (introspection included), over the whole document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

# Sums saturate here: a fan-out's real cost (2^1000 fields) needs no exact figure.
_SATURATED = 2**40


@dataclass(frozen=True)
class QueryLimits:
    max_depth: int = 10
    max_aliases: int = 30
    max_cost: int = 5000


@dataclass(frozen=True)
class _Summary:
    depth: int = 0  # levels of non-introspection fields below this selection set
    aliases: int = 0
    cost: int = 0

    def merge(self, other: _Summary) -> _Summary:
        return _Summary(max(self.depth, other.depth), _add(self.aliases, other.aliases),
                        _add(self.cost, other.cost))


def _add(a: int, b: int) -> int:
    return min(a + b, _SATURATED)


_EMPTY = _Summary()


class _Summariser:
    """Summaries of selection sets, each fragment's computed once."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.memo: dict[str, _Summary] = {}
        self.in_progress: set[str] = set()

    def selection_set(self, node: SelectionSetNode | None) -> _Summary:
        total = _EMPTY
        for selection in node.selections if node else ():
            if isinstance(selection, FieldNode):
                total = total.merge(self.field(selection))
            elif isinstance(selection, InlineFragmentNode):
                total = total.merge(self.selection_set(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                total = total.merge(self.fragment(selection.name.value))
        return total

    def field(self, node: FieldNode) -> _Summary:
        below = self.selection_set(node.selection_set)
        introspection = node.name.value.startswith("__")
        depth = 0 if introspection or node.selection_set is None else below.depth + 1
        return _Summary(depth, _add(below.aliases, 1 if node.alias else 0), _add(below.cost, 1))

    def fragment(self, name: str) -> _Summary:
        if name in self.memo:
            return self.memo[name]
        definition = self.fragments.get(name)
        # An unknown or cyclic spread counts as nothing here: the standard rules
        # (KnownFragmentNames, NoFragmentCycles) report it.
        if definition is None or name in self.in_progress:
            return _EMPTY
        self.in_progress.add(name)
        summary = self.selection_set(definition.selection_set)
        self.in_progress.discard(name)
        self.memo[name] = summary
        return summary


def measure(document: Any) -> list[tuple[str, _Summary]]:
    """Each operation's name (``anonymous`` when unnamed) and summary."""
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    summariser = _Summariser(fragments)
    return [(d.name.value if d.name else "anonymous", summariser.selection_set(d.selection_set))
            for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def create_rule(limits: QueryLimits) -> type[ValidationRule]:
    """The rule class for ``AddValidationRules``; built once, so the validation cache hits."""

    class QueryLimitsRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            for error in check(context.document, limits):
                context.report_error(error)

    return QueryLimitsRule


def check(document: Any, limits: QueryLimits) -> list[GraphQLError]:
    """The limit errors of a document, with the messages Strawberry's limiters used."""
    operations = measure(document)
    errors = [GraphQLError(f"'{name}' exceeds maximum operation depth of {limits.max_depth}")
              for name, summary in operations if summary.depth > limits.max_depth]
    aliases = sum(summary.aliases for _, summary in operations)
    if aliases > limits.max_aliases:
        shown = f"More than {_SATURATED}" if aliases >= _SATURATED else str(aliases)
        errors.append(GraphQLError(f"{shown} aliases found. Allowed: {limits.max_aliases}"))
    cost = sum(summary.cost for _, summary in operations)
    if cost > limits.max_cost:
        shown = f"more than {_SATURATED}" if cost >= _SATURATED else str(cost)
        errors.append(GraphQLError(
            f"query cost {shown} exceeds the limit of {limits.max_cost} "
            "(fields, counted with fragments expanded; BILLGATE_MAX_QUERY_COST)"))
    return errors
