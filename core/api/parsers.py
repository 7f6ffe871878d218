"""The API's parsers: DRF's, reading UTF-8 alone, and refusing with a 400 JSON nested too deep to read
or naming a key twice in one object."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.utils import json

from core.http import charset_is_utf8


def _utf8_only(media_type, parser_context) -> None:
    """Raise UnsupportedMediaType for a body that declares a charset other than UTF-8: its bytes
    (UTF-7's `+ADw-`, say) would be read into other text than any other reader of them sees."""
    encoding = (parser_context or {}).get("encoding")
    if not charset_is_utf8(encoding):
        raise UnsupportedMediaType(media_type, detail=f"Bodies are read as UTF-8 only, not {encoding}.")


class _KeyRepeated(ValueError):
    """An object of the JSON read names a key twice."""


#: How much of a repeated key an answer quotes: a key may be as long as the body.
_KEY_QUOTED_MAX = 100


def _object_once(pairs: list[tuple[str, object]]) -> dict:
    """Return a JSON object's pairs as a dict; raise _KeyRepeated if a key comes twice."""
    built = dict(pairs)
    if len(built) < len(pairs):  # Rare: only then are the keys gone through one by one.
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise _KeyRepeated(key)
            seen.add(key)
    return built


def _whole_number(written: str) -> int | float:
    """Read a JSON integer; `-0` as the float it stands for, which a text field refuses: as an int
    it would be the text "0", and two codes sent differently would be one."""
    return -0.0 if written == "-0" else int(written)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, answering 415 to a charset other than UTF-8 and 400 to nesting too deep or
    a key repeated in one object (read last-wins, what the client meant is anyone's guess)."""

    def parse(self, stream, media_type=None, parser_context=None):
        _utf8_only(media_type, parser_context)
        parse_constant = json.strict_constant if self.strict else None
        try:
            text = stream.read().decode("utf-8")  # What _utf8_only let through.
            return json.loads(
                text, parse_constant=parse_constant, object_pairs_hook=_object_once, parse_int=_whole_number
            )
        except _KeyRepeated as exc:
            key = json.dumps(exc.args[0], ensure_ascii=False)
            quoted = key if len(key) <= _KEY_QUOTED_MAX else key[:_KEY_QUOTED_MAX] + "…"
            raise ParseError(f"JSON parse error - the key {quoted} comes twice in one object.") from None
        except ValueError as exc:  # UnicodeDecodeError included, as DRF's own parser answers it.
            raise ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:
            # Python's decoder gives up on nesting a few thousand levels deep: the client's input.
            raise ParseError("JSON parse error - nested too deeply to read.") from None


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser, answering 415 to a charset other than UTF-8."""

    def parse(self, stream, media_type=None, parser_context=None):
        _utf8_only(media_type, parser_context)
        return super().parse(stream, media_type, parser_context)
