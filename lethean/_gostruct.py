"""
Go structs as ``encoding/json`` reads and writes them, declared once.

A wire struct is an attrs class whose fields carry their JSON key, Go
type and tags (:func:`go_field`), in Go declaration order::

    @attrs.frozen
    class GetLogsPayload(GoStruct):
        miner_name: str = go_field("minerName", STRING)
        lines: int = go_field("lines", INT)
        since: int = go_field("since", INT64, omitempty=True)

That one declaration drives both directions (:func:`schema_of`):

* writing: fields in declaration order, ``omitempty`` applied, compact,
  HTML escaping as asked (:meth:`Schema.encode`, :meth:`Schema.to_json_value`);
* reading, with Go's decoder's rules (:meth:`Schema.fields`): keys
  matched exactly, else case-insensitively; unknown keys ignored; every
  occurrence of a repeated key read in order, so the last one wins; a
  ``null`` leaves a field as it was (a ``json.RawMessage`` or
  ``interface{}`` takes it); a value of the wrong JSON type raises
  :class:`~lethean._gotypes.Mismatch`, which each format words as its
  own error (:class:`GoStruct` words it as Go does).

The struct's name in Go's type names is the class name (``GO_NAME``
overrides it) in the package ``GO_PACKAGE``.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs

from lethean._gojson import Pairs, RawJSON, fold_key, go_string, loads_strict
from lethean._gocompile import compile_collapsed_reader, compile_to_value, compile_writer
from lethean._gotypes import Kind, Mismatch
from lethean._types import JSONValue
from lethean.errors import MalformedError

__all__ = [
    "InvalidPayloadError",
    "Collapsed",
    "GoStruct",
    "Schema",
    "StructOf",
    "go_field",
    "schema_of",
]

_META = "lethean.go"


class InvalidPayloadError(MalformedError):
    """The message payload does not have the expected JSON shape."""

    kind = "invalid_payload"


class Collapsed(Exception):
    """
    A parsed ``dict`` (whose repeated keys the parser merged) may not read
    as Go reads the text: read the object's pairs instead.
    """


@attrs.frozen
class _Tag:
    """What :func:`go_field` records in the attrs field's metadata."""

    key: str
    kind: Kind
    omitempty: bool
    zero: object


_KIND_ZERO: Any = object()

_S = TypeVar("_S", bound="GoStruct")

#: A JSON object as the struct readers take it: a ``dict`` or ``Pairs``.
_Object = dict[str, JSONValue] | Sequence[tuple[str, JSONValue]]


def go_field(key: str, kind: Kind, *, omitempty: bool = False, zero: object = attrs.NOTHING,
             default: Any = _KIND_ZERO, **kwargs: Any) -> Any:
    """
    An attrs field that is the Go struct field ``key`` of type ``kind``.

    ``omitempty`` is Go's tag (left out when ``""``, 0, false, empty or
    None).  ``default`` is the kind's zero value unless given
    (``attrs.NOTHING``: a required argument); ``zero`` is what an absent
    field reads as, when that is not the default.  Other arguments go to
    ``attrs.field``.
    """
    if default is _KIND_ZERO:
        default = kind.zero
    kwargs["default"] = default
    kwargs["metadata"] = dict(kwargs.get("metadata") or (), **{
        _META: _Tag(key, kind, omitempty, zero)})
    return attrs.field(**kwargs)


@attrs.frozen
class _Field:
    key: str
    attribute: str
    #: The constructor argument's name (``_received`` -> ``received``).
    alias: str
    kind: Kind
    omitempty: bool
    #: ``,"key":`` as written (the first field drops the comma).
    prefix: str


#: Go types whose JSON values are taken as they are when of this type.
_PLAIN = {"string": str, "bool": bool}


class Schema:
    """The JSON shape of one struct class, read from its attrs fields."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.go_type = "{}.{}".format(getattr(cls, "GO_PACKAGE", ""),
                                      cls.__dict__.get("GO_NAME", cls.__name__))
        fields = []
        zeros: dict[str, object] = {}
        for attribute in attrs.fields(cls):
            tag = attribute.metadata.get(_META)
            if tag is None:
                continue
            fields.append(_Field(tag.key, attribute.name, attribute.alias, tag.kind, tag.omitempty,
                                 "," + go_string(tag.key, False) + ":"))
            if tag.zero is not attrs.NOTHING:
                zeros[attribute.alias] = tag.zero
            elif attribute.default is not attrs.NOTHING and not isinstance(
                    attribute.default, attrs.Factory):  # type: ignore[arg-type]  # a class
                zeros[attribute.alias] = attribute.default
            else:
                zeros[attribute.alias] = tag.kind.zero
        self.fields = tuple(fields)
        self._zeros = zeros
        #: ``write(instance, html)``: the JSON text of an instance.
        self.write = compile_writer(self.fields)
        self._to_value = compile_to_value(self.fields)
        #: The attrs aliases of the fields, in field order.
        self.aliases = tuple(f.alias for f in fields)
        #: ``read_collapsed(d)``: :meth:`fields_of` ``(d, collapsed=True)``
        #: as a tuple in field order (see :attr:`aliases`): for a class whose
        #: fields are its leading positional arguments, ``cls(*values)``.
        self.read_collapsed = compile_collapsed_reader(fields, zeros, _PLAIN, Collapsed)
        # What the reading loop needs, unpacked once per key:
        # (alias, type taken as is, reader, reads null).
        entries = [(f.alias, _PLAIN.get(f.kind.go_type), f.kind.read, f.kind.reads_null)
                   for f in fields]
        self._exact = {f.key: entry for f, entry in zip(fields, entries)}
        self._folded = {fold_key(f.key): entry for f, entry in zip(fields, entries)}

    def fields_of(self, value: JSONValue, *, collapsed: bool = False) -> dict[str, Any]:
        """
        The constructor arguments (attrs aliases) of the struct that the
        JSON object ``value`` (a ``dict``, or :class:`~lethean._gojson.Pairs`
        with every repeated key) reads as: absent fields take their zero
        values.  Raises :class:`Mismatch` for a value of the wrong type.

        ``collapsed``: ``value`` is a dict from a plain parse, which hides
        repeated keys; raises :class:`Collapsed` wherever reading the text's
        pairs could give another result (another spelling of a key, a
        ``null``, a wrong type), so that the common case costs one parse.
        """
        if collapsed:
            return dict(zip(self.aliases, self.read_collapsed(value)))
        found = self._zeros.copy()
        exact = self._exact
        for key, item in (value.items() if type(value) is dict else value):
            entry = exact.get(key)
            if entry is None:
                entry = self._folded.get(fold_key(key))
                if entry is None:
                    continue
            alias, plain, read, reads_null = entry
            if type(item) is plain:
                found[alias] = item
            elif item is not None or reads_null:
                try:
                    found[alias] = read(item)
                except Mismatch as e:
                    e.steps.append(key)
                    raise
        return found

    def read(self, value: _Object) -> Any:
        """The struct ``value`` (a JSON object, dict or pairs) reads as."""
        return self.cls(**self.fields_of(value))

    def encode(self, instance: object, html: bool,
               written: Mapping[str, str] | None = None) -> str:
        """
        The JSON text of ``instance``; ``written`` maps attribute names to
        text the caller already has for them.
        """
        if written is None:
            return self.write(instance, html)
        parts: list[str] = []
        for field in self.fields:
            if written is not None and field.attribute in written:
                parts += (field.prefix, written[field.attribute])
                continue
            value = getattr(instance, field.attribute)
            if field.omitempty and not value:
                continue
            parts += (field.prefix, field.kind.write(value, html))
        if not parts:
            return "{}"
        parts[0] = "{" + parts[0][1:]
        parts.append("}")
        return "".join(parts)

    def to_json_value(self, instance: object) -> dict[str, JSONValue]:
        """``instance`` as plain JSON data: a dict in field order, ``omitempty`` applied."""
        return self._to_value(instance)

    def writer(self, *attributes: str) -> Callable[..., str]:
        """
        ``write(html, *values)``: the JSON text of an instance whose
        ``attributes`` hold ``values`` and whose other fields are their
        kinds' zero values, without building one.
        """
        return compile_writer(self.fields, attributes, self._zeros)


def schema_of(cls: type) -> Schema:
    """The :class:`Schema` of a struct class (built once, on first use)."""
    schema: Schema | None = cls.__dict__.get("_go_schema")
    if schema is None:
        schema = Schema(cls)
        setattr(cls, "_go_schema", schema)
    return schema


class StructOf(Kind):
    """A nested struct field: an attrs class declared with :func:`go_field`."""

    def __init__(self, cls: type) -> None:
        self._cls = cls

    # Read-only here: the struct class says what they are.
    @property
    def go_type(self) -> str:  # type: ignore[override]
        return schema_of(self._cls).go_type

    @property
    def zero(self) -> Any:  # type: ignore[override]
        schema = schema_of(self._cls)
        return schema.read(())

    def read(self, value: JSONValue) -> Any:
        if type(value) is not dict and type(value) is not Pairs:
            raise self.mismatch(value)
        return schema_of(self._cls).read(value)

    def write(self, value: object, html: bool) -> str:
        return schema_of(self._cls).write(value, html)

    def to_value(self, value: object) -> dict[str, JSONValue]:
        return schema_of(self._cls).to_json_value(value)


class GoStruct:
    """
    A payload struct: ``to_json_value``/``from_json_value`` from its
    :func:`go_field` declarations, errors worded as Go's ``encoding/json``.
    """

    #: The Go package the struct lives in (for Go's type names).
    GO_PACKAGE = "node"

    @classmethod
    def go_type(cls) -> str:
        """The Go type name, e.g. ``node.GetLogsPayload``."""
        return schema_of(cls).go_type

    def to_json_value(self) -> dict[str, JSONValue]:
        """The struct as a dict in Go field order, ``omitempty`` applied."""
        return schema_of(type(self)).to_json_value(self)

    def __go_json__(self, html: bool) -> str:
        return schema_of(type(self)).write(self, html)

    @classmethod
    def from_json_value(cls: type[_S], value: object) -> _S:
        """
        Read a received value (parsed JSON, ``RawJSON`` or an instance) as
        Go's decoder does; raises :class:`InvalidPayloadError` with Go's text.
        """
        if isinstance(value, cls):
            return value
        if type(value) is RawJSON:
            value = loads_strict(value.text, keep_overflow=True)
        if value is None:
            return cls()
        schema = schema_of(cls)
        try:
            if type(value) is not dict and type(value) is not Pairs:
                raise Mismatch(value, schema.go_type)
            return schema.read(value)
        except Mismatch as e:
            raise InvalidPayloadError(e.go_text(cls.__name__)) from None
