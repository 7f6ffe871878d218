"""The API's parsers: DRF's, reading UTF-8 alone, and refusing JSON nested too deep to read with a 400."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError, UnsupportedMediaType

from core.http import charset_is_utf8


def _utf8_only(media_type, parser_context) -> None:
    """Raise UnsupportedMediaType for a body that declares a charset other than UTF-8: its bytes
    (UTF-7's `+ADw-`, say) would be read into other text than any other reader of them sees."""
    encoding = (parser_context or {}).get("encoding")
    if not charset_is_utf8(encoding):
        raise UnsupportedMediaType(media_type, detail=f"Bodies are read as UTF-8 only, not {encoding}.")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, answering 415 to a charset other than UTF-8 and 400 to nesting too deep."""

    def parse(self, stream, media_type=None, parser_context=None):
        _utf8_only(media_type, parser_context)
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            # Python's decoder gives up on nesting a few thousand levels deep: the client's input.
            raise ParseError("JSON parse error - nested too deeply to read.") from None


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser, answering 415 to a charset other than UTF-8."""

    def parse(self, stream, media_type=None, parser_context=None):
        _utf8_only(media_type, parser_context)
        return super().parse(stream, media_type, parser_context)
