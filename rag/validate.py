"""Strict pack validation with an exact path for every problem.

Contract (used by the admin's upload page and `somo curriculum import`):
    validate_pack_text(yaml_text, source_name) -> (Pack | None, errors)
where each error reads like "topics[2].questions[0].answer: required". A pack is
returned only when the list is empty. Third parties write packs, so every message
says what is wrong, where, and (when it helps) how to fix it.

Three layers: YAML (syntax with line numbers, duplicate keys), the schema
(rag/schema.py, pydantic, unknown keys are errors), then cross-field rules that the
schema cannot express (`check_pack`: languages of localized text, the default
language present everywhere, no empty text, distinct choices).
"""

from __future__ import annotations

import re

import yaml
from pydantic import BaseModel, ValidationError

from rag.schema import Pack

LOCALIZED_FIELDS = frozenset(
    {"title", "summary", "reference", "intro", "explanation", "example", "recap", "question", "hint"}
)
_PATTERN_NAMES = {
    r"^[a-z0-9][a-z0-9-]*$": "use lowercase letters, digits and '-', starting with a letter or digit",
    r"^[a-z]{2,3}$": "use a 2- or 3-letter lowercase language code such as 'en' or 'sw'",
    r"^[A-Z]{2}$": "use a two-letter ISO 3166-1 country code such as 'KE'",
}
_RELATIVE_PATH = re.compile(r"^([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*): (.*)$", re.S)


class PackInvalid(ValueError):
    """A pack that breaks the format; `errors` holds one 'path: problem' line per error."""

    def __init__(self, source: str, errors: list[str]):
        self.source, self.errors = source, errors
        super().__init__(f"{source}: {len(errors)} error(s): " + "; ".join(errors[:5]))


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice (YAML would silently keep the last)."""


def _mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def path_of(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _is_union_branch(part) -> bool:
    return isinstance(part, str) and (part.startswith("constrained-str") or part.startswith("dict[") or part == "str")


def _describe(err: dict) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see CURRICULUM_PACK.md for the keys a pack may use)"
    if kind == "string_type":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"must be text: write it in quotes, \"{value}\""
        return "must be text"
    if kind == "string_pattern_mismatch":
        hint = _PATTERN_NAMES.get(ctx.get("pattern", ""), f"must match {ctx.get('pattern')}")
        return f"{value!r} is not allowed: {hint}"
    if kind in ("too_short", "too_long"):
        return err["msg"].replace("List", "list").replace("Value", "value")
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}, got {value!r}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}, got {value!r}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number, not {value!r}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be a mapping of keys to values"
    if kind == "list_type":
        return "must be a list"
    return err["msg"]


def schema_errors(exc: ValidationError) -> list[str]:
    """Pydantic errors as 'path: problem'; the two branches of a localized string become one error."""
    out: list[str] = []
    unions: dict[tuple, list[dict]] = {}
    for err in exc.errors():
        loc = tuple(err["loc"])
        cut = next((i for i, part in enumerate(loc) if _is_union_branch(part)), None)
        if cut is not None:
            unions.setdefault(loc[:cut], []).append({**err, "loc": loc[:cut] + tuple(
                p for p in loc[cut + 1:] if p != "[key]")})
            continue
        out.append(_one(loc, err))
    for base, errs in unions.items():
        deep = [e for e in errs if len(e["loc"]) > len(base)]
        if deep:
            out.extend(_one(e["loc"], e) for e in deep)
        else:
            out.append(f"{path_of(base)}: must be text, or a mapping of language code to text")
    return out


def _one(loc: tuple, err: dict) -> str:
    if err["type"] == "value_error":
        message = str(err.get("ctx", {}).get("error") or err["msg"]).removeprefix("Value error, ")
        m = _RELATIVE_PATH.match(message)
        if m:  # a model validator that names the field itself: "questions[0].skill: ..."
            prefix = path_of(loc)
            return f"{prefix + '.' if prefix else ''}{m.group(1)}: {m.group(2)}"
        return f"{path_of(loc) or '(pack)'}: {message}"
    return f"{path_of(loc) or '(pack)'}: {_describe(err)}"


def _walk(node, path: str, pack: Pack, errors: list[str]) -> None:
    if isinstance(node, BaseModel):
        for name in type(node).model_fields:
            value = getattr(node, name)
            sub = f"{path}.{name}" if path else name
            if name in LOCALIZED_FIELDS and value is not None:
                _check_localized(value, sub, pack, errors)
            else:
                _walk(value, sub, pack, errors)
        choices = getattr(node, "choices", None)
        if choices and len({c.strip().lower() for c in choices}) != len(choices):
            errors.append(f"{path}.choices: two choices are the same")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _walk(item, f"{path}[{i}]", pack, errors)


def _check_localized(value, path: str, pack: Pack, errors: list[str]) -> None:
    if isinstance(value, str):
        if not value.strip():
            errors.append(f"{path}: empty text")
        return
    for lang, text in value.items():
        if lang not in pack.languages:
            errors.append(f"{path}.{lang}: language {lang!r} is not in the pack's languages {list(pack.languages)}")
        elif not text.strip():
            errors.append(f"{path}.{lang}: empty text")
    if pack.default_language not in value:
        errors.append(f"{path}: missing text in the pack's first language {pack.default_language!r}")


def check_pack(pack: Pack) -> list[str]:
    """Rules the schema cannot express; [] when the pack is sound."""
    errors: list[str] = []
    _walk(pack, "", pack, errors)
    return errors


def warnings_for(pack: Pack) -> list[str]:
    """Advice that does not block an import (the format says 'should')."""
    out = []
    for i, topic in enumerate(pack.topics):
        missing = sorted({1, 2, 3} - {q.difficulty for q in topic.questions})
        if missing:
            out.append(f"topics[{i}].questions: no question at difficulty {', '.join(map(str, missing))}")
    return out


def validate_pack_text(yaml_text: str, source_name: str = "<pack>") -> tuple[Pack | None, list[str]]:
    """Parse and validate one pack; (pack, []) when good, (None, errors) otherwise."""
    try:
        data = yaml.load(yaml_text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [f"(yaml) {where}{problem}"]
    if not isinstance(data, dict):
        name = source_name.replace("\\", "/").rsplit("/", 1)[-1]
        return None, [f"(pack): {name} must hold one YAML mapping (pack, curriculum, ..., topics)"]
    try:
        pack = Pack.model_validate(data)
    except ValidationError as exc:
        return None, schema_errors(exc)
    errors = check_pack(pack)
    return (None, errors) if errors else (pack, [])
