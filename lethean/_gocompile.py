"""
Straight-line functions compiled from a struct's fields, for the hot paths.

A loop over a struct's fields, asking each kind what to do, costs a third
more than the code one would write by hand for the mesh envelope, which is
read and written for every message.  So :class:`~lethean._gostruct.Schema`
compiles, once per struct, what the hand-written code was: the writer, the
plain-data view and the reader of the common case.  The generated source
names only attributes and positions; keys, kinds and zero values come in
as constants, so no received text ever reaches it.  Kinds contribute
their writer as an expression (``Kind.inline``) over ``_j``, the
:mod:`lethean._gojson` module.
"""

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lethean import _gojson
from lethean._gojson import fold_key
from lethean._gotypes import Kind, Mismatch
from lethean._types import JSONValue

if TYPE_CHECKING:
    from lethean._gostruct import _Field

__all__ = ["compile_writer", "compile_to_value", "compile_collapsed_reader"]


def _build(lines: list[str], names: dict[str, Any], name: str) -> Callable[..., Any]:
    exec("\n".join(lines), names)
    function: Callable[..., Any] = names[name]
    return function


def compile_writer(fields: Sequence["_Field"], given: Collection[str] | None = None,
                   zeros: Mapping[str, object] | None = None) -> Callable[..., str]:
    """
    ``write(obj, html)``: the JSON text of an instance.  With ``given`` (a
    sequence of attribute names), ``write(html, *values)`` instead: the
    text of an instance with those values and every other field at its
    zero value (``zeros``, by alias), without building the instance.
    """
    # Looked up in the module at each call, so that the pure-Python path
    # (tests/_accel.py) reaches the generated code too.
    names: dict[str, Any] = {"_j": _gojson}
    zero_of: Mapping[str, object] = zeros if zeros is not None else {}
    if given is None:
        lines = ["def write(obj, html):"]
    else:
        lines = ["def write(html, {}):".format(", ".join("v_" + name for name in given))]
    # (index, field, value expression or None for a constant zero)
    written: list[tuple[int, "_Field", str | None]] = []
    for index, field in enumerate(fields):
        if given is None:
            written.append((index, field, "obj." + field.attribute))
        elif field.attribute in given:
            written.append((index, field, "v_" + field.attribute))
        elif not field.omitempty or zero_of[field.alias]:
            written.append((index, field, None))
    static = bool(written) and not written[0][1].omitempty
    run = []  # parts of fields written unconditionally, not yet emitted
    emitted = False
    for position, (index, field, value) in enumerate(written):
        prefix = field.prefix
        if position == 0 and static:
            prefix = "{" + prefix[1:]
        names["k{}".format(index)] = prefix
        names["w{}".format(index)] = field.kind.write
        write = field.kind.inline or "w{}({{}}, html)".format(index)
        if value is None:
            names["z{}".format(index)] = field.kind.write(zero_of[field.alias], False)
            run += ["k{}".format(index), "z{}".format(index)]
            continue
        if not field.omitempty:
            run += ["k{}".format(index), write.format(value)]
            continue
        if run or not emitted:
            lines.append("    parts {} [{}]".format("+=" if emitted else "=", ", ".join(run)))
        emitted = True
        run = []
        lines += ["    v = " + value, "    if v:",
                  "        parts += (k{}, {})".format(index, write.format("v"))]
    run.append("'}'")
    if not emitted:
        lines.append("    parts = [{}]".format(", ".join(run)))
    elif len(run) == 1:
        lines.append("    parts.append('}')")
    else:
        lines.append("    parts += ({},)".format(", ".join(run)))
    if not static:
        lines += ["    if len(parts) == 1:", "        return '{}'",
                  "    parts[0] = '{' + parts[0][1:]"]
    lines.append("    return ''.join(parts)")
    return _build(lines, names, "write")


def _as_is(kind: Kind) -> bool:
    return type(kind).to_value is Kind.to_value


def compile_to_value(fields: Sequence["_Field"]) -> Callable[[object], dict[str, JSONValue]]:
    """``to_value(obj)``: the instance as plain JSON data, a dict in field order."""
    names: dict[str, Any] = {}
    lines = ["def to_value(obj):"]
    run = []  # "key: value" of fields written unconditionally, not yet emitted
    emitted = False
    for index, field in enumerate(fields):
        names["k{}".format(index)] = field.key
        names["t{}".format(index)] = field.kind.to_value
        value = "v" if field.omitempty else "obj." + field.attribute
        if not _as_is(field.kind):
            value = "t{}({})".format(index, value)
        if not field.omitempty:
            if emitted:
                lines.append("    d[k{}] = {}".format(index, value))
            else:
                run.append("k{}: {}".format(index, value))
            continue
        if not emitted:
            lines.append("    d = {" + ", ".join(run) + "}")
            emitted = True
        lines += ["    v = obj." + field.attribute, "    if v:",
                  "        d[k{}] = {}".format(index, value)]
    if not emitted:
        lines.append("    d = {" + ", ".join(run) + "}")
    lines.append("    return d")
    return _build(lines, names, "to_value")


def compile_collapsed_reader(
        fields: Sequence["_Field"], zeros: Mapping[str, object], plain: Mapping[str, type],
        collapsed_error: Callable[[str], Exception]) -> Callable[[dict[str, JSONValue]],
                                                                 tuple[Any, ...]]:
    """
    ``read(d)``: the constructor arguments a ``dict`` from a plain parse
    reads as, a tuple in field order (a dict and ``**`` would cost the
    envelope's reader 7 %), or ``collapsed_error`` raised wherever the
    text's pairs might read otherwise (see
    :meth:`~lethean._gostruct.Schema.fields_of`).
    ``zeros`` maps aliases to zero values, ``plain`` Go type names to the
    Python type taken as is.
    """
    exact = frozenset(field.key for field in fields)
    folded = frozenset(fold_key(field.key) for field in fields)

    def check_others(d: dict[str, JSONValue]) -> None:
        for key in d:
            if key not in exact and fold_key(key) in folded:
                raise collapsed_error(key)

    names: dict[str, Any] = {"M": object(), "Mismatch": Mismatch, "Collapsed": collapsed_error,
             "check_others": check_others}
    lines = ["def read(d):", "    n = 0"]
    result = []
    for index, field in enumerate(fields):
        kind = field.kind
        names["k{}".format(index)] = field.key
        names["z{}".format(index)] = zeros[field.alias]
        names["r{}".format(index)] = kind.read
        names["p{}".format(index)] = plain.get(kind.go_type)
        target = "a{}".format(index)
        lines += ["    v = d.get(k{}, M)".format(index),
                  "    if v is M:", "        {} = z{}".format(target, index),
                  "    else:", "        n += 1"]
        if kind.go_type == "interface {}":
            lines.append("        {} = v".format(target))
        elif names["p{}".format(index)] is not None:
            lines += ["        if type(v) is not p{}:".format(index),
                      "            raise Collapsed(k{})".format(index),
                      "        {} = v".format(target)]
        elif kind.parse_string is not None:
            names["r{}".format(index)], names["e{}".format(index)] = kind.parse_string
            lines += ["        if type(v) is not str:",
                      "            raise Collapsed(k{})".format(index),
                      "        try:", "            {} = r{}(v)".format(target, index),
                      "        except e{}:".format(index),
                      "            raise Collapsed(k{}) from None".format(index)]
        else:
            if not kind.reads_null:
                lines += ["        if v is None:", "            raise Collapsed(k{})".format(index)]
            lines += ["        try:", "            {} = r{}(v)".format(target, index),
                      "        except Mismatch:",
                      "            raise Collapsed(k{}) from None".format(index)]
        result.append(target)
    lines += ["    if n != len(d):", "        check_others(d)",
              "    return (" + ", ".join(result) + ",)"]
    return _build(lines, names, "read")
