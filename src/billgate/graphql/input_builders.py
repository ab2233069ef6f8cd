"""Input objects built by a plan worked out once per type, not by Strawberry's generic walk.

Strawberry turns a GraphQL input value into its input class field by field on every
request: for each field it resolves the field's type, walks the wrappers (optional, list,
lazy, enum) and renames it, whether or not the client sent it. ``tryDecreaseItemQuantity``'s
input took twelve of those walks, a tenth of the mutation's CPU on PostgreSQL
(docs/performance.md). The schema does not change after it is built, so each input type's
plan (its fields' GraphQL and Python names, and which values pass as they are) is worked out
once and handed to Strawberry through its hook for types that build their own value
(``StrawberryObjectDefinition.from_input``).

What a value becomes is exactly what Strawberry makes of it: leaves (scalars, enums, and
optional ones) pass as they are, as Strawberry passes them; anything else (a nested input,
a list) goes back through Strawberry's own conversion (``InputContext.convert``), which
uses the nested type's plan in turn. A type with a field Strawberry treats specially
(``Maybe``, ``GlobalID``) keeps Strawberry's walk.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import strawberry
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    StrawberryType,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition

Build = Callable[[type, Mapping[str, Any], InputContext], Any]


def plan_inputs(schema: strawberry.Schema) -> int:
    """Give every input type of ``schema`` its plan; returns how many got one."""
    converter = schema.schema_converter
    planned = 0
    for concrete in list(converter.type_map.values()):
        definition = concrete.definition
        if (isinstance(definition, StrawberryObjectDefinition) and definition.is_input
                and definition.from_input is None):
            build = _plan(definition, schema.config, converter.scalar_registry)
            if build is not None:
                definition.from_input = build
                planned += 1
    return planned


def _plan(definition: StrawberryObjectDefinition, config: Any,
          scalars: Mapping[object, Any]) -> Build | None:
    fields = []
    for field in definition.fields:
        field_type = field.resolve_type(type_definition=definition)
        if _special(field_type):
            return None
        fields.append((config.name_converter.from_field(field), field.python_name, field_type,
                       _passes_as_is(field_type, scalars)))
    # As Strawberry does: a field without a default is None unless the client sent it
    # (graphql-core has already refused a missing required one).
    unset = {field.python_name: None for field in definition.fields
             if field.default_value is dataclasses.MISSING
             and field.default_factory is dataclasses.MISSING}

    def build(cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
        kwargs = dict(unset)
        for graphql_name, python_name, field_type, as_is in fields:
            if graphql_name in value:
                given = value[graphql_name]
                kwargs[python_name] = (given if as_is
                                       else context.convert(given, field_type, graphql_name))
        return cls(**kwargs)

    return build


def _special(field_type: Any) -> bool:
    while isinstance(field_type, StrawberryOptional):
        if isinstance(field_type, StrawberryMaybe):
            return True
        field_type = field_type.of_type
    return field_type is GlobalID


def _passes_as_is(field_type: Any, scalars: Mapping[object, Any]) -> bool:
    """A leaf Strawberry returns unchanged (``convert_argument``): a scalar or an enum,
    optional or not (None stays None)."""
    if isinstance(field_type, StrawberryOptional):
        field_type = field_type.of_type
    if isinstance(field_type, StrawberryType) and not isinstance(field_type,
                                                                 StrawberryEnumDefinition):
        return False  # a list, a lazy type, another wrapper: Strawberry's conversion
    return (is_scalar(field_type, scalars) or isinstance(field_type, StrawberryEnumDefinition)
            or has_enum_definition(field_type))
