"""What an email's HTML shows its reader, as the unsubscribe check counts it: a link to an address
that a reader sees and can click (html_link_shown). An allow-list: a link counts only where no
element, attribute or inline style around it may hide it or keep it from being clicked."""

import re
from collections.abc import Iterator
from typing import NamedTuple, cast

from selectolax.lexbor import LexborHTMLParser, LexborNode

from core.css import (
    css_length,
    css_overflow_clips,
    style_displayed,
    style_editable,
    style_extent,
    style_hides,
    style_overflow_shown,
    style_transparent,
    style_unjudged,
    style_visibility,
)
from core.html_table import TABLE_ROWS, table_cells_collapsed
from core.html_text import HTML_BLANK, html_lower, url_strip
from core.text import text_draws

#: Elements whose content a reader does not see plainly, or not as a link: a <head>'s and a
#: <template>'s (no part of the page), a <select>'s or <datalist>'s options, an <option>'s anywhere
#: (Chromium draws its label's text, never the elements it holds), what a video, an audio, an object
#: or a canvas holds (shown only where they fail), a <picture>'s (which of its images shows is the
#: client's choice), a frame's, a <noscript>'s (hidden from a reader running scripts), raw text (a
#: <script>'s, a <style>'s, a <title>'s; a <textarea>'s, shown in a control), a ruby's <rp> (hidden
#: wherever ruby is laid out), what a <progress> or <meter> holds (never drawn: the bar is), and what
#: a <geolocation>, <usermedia>, <camera> or <microphone> holds (Chromium draws a permission button
#: instead) or a <fencedframe> (an empty frame), and a <marquee>'s (it moves what it holds, or
#: keeps it outside its clip for as long as its `scrolldelay` or `loop` say).
_NOTHING_SHOWN_IN = frozenset(
    {
        "template", "head", "datalist", "noembed", "noframes", "iframe", "noscript", "select",
        "option", "picture", "video", "audio", "object", "canvas", "script", "style", "title",
        "textarea", "rp", "progress", "meter", "geolocation", "usermedia", "camera", "microphone",
        "fencedframe", "marquee",
    }
)  # fmt: skip
#: Elements that draw nothing of what they hold, whatever its style: raw text and template content
#: (no elements to draw), a video's or an audio's fallback, a bar's content, a fenced frame's.
_NOTHING_DRAWN_IN = frozenset(
    {
        "template", "script", "style", "title", "textarea", "noembed", "noframes", "iframe", "video",
        "audio", "progress", "meter", "fencedframe",
    }
)  # fmt: skip
#: MathML's attributes that move, size or paint what an element draws (its spaces, offsets, sizes,
#: background): with them, what it holds may draw outside its box, over a link beside it.
_MATH_SPREADING = frozenset(
    {
        "voffset", "lspace", "rspace", "width", "height", "depth", "mathbackground", "mathsize",
        "minsize", "maxsize", "linethickness",
    }
)  # fmt: skip
#: SVG's and MathML's roots: nothing in them counts, HTML in a <foreignObject> or <mtext> neither.
#: What they show depends on sizes, conditions, switches and selections a reader's client weighs;
#: an unsubscribe link in an email has no need of them.
_FOREIGN_ROOTS = frozenset({"svg", "math"})
#: Attributes that hide an element (`hidden`, "until-found" too; `popover`, shown only when a
#: script opens it) or keep anyone from clicking it (`inert`), whatever value they have.
_HIDING_ATTRIBUTES = ("hidden", "popover", "inert")
#: `contenteditable`'s values (ASCII case-insensitive) and whether each makes what its element holds
#: editable; any other value leaves it as its parent's.
_CONTENTEDITABLE = {"": True, "true": True, "plaintext-only": True, "false": False}
#: An HTML dimension attribute's number (HTML's rules for parsing dimension values: ASCII digits).
_DIMENSION = re.compile(rf"[{HTML_BLANK}]*([0-9]+(?:\.[0-9]+)?)")
#: Elements that may take a click on what they hold before a link around them does (see _Clicks).
_CLICK_TAKERS = frozenset({"button", "label", "summary", "img"})
#: The elements a <label> labels (HTML's labelable elements), an <input> but of `type=hidden`.
_LABELABLE = frozenset({"button", "input", "meter", "output", "progress", "select", "textarea"})


class _Shown(NamedTuple):
    """What an element shows of what it holds, as its ancestors and itself say."""

    #: Its `visibility` is visible: inherited, and a descendant's own `visible` shows it again.
    visible: bool
    #: Its `visibility` is `collapse` (inherited too): a table row or row group inside shows nothing.
    collapsed: bool
    #: Inside the nearest link, which is one to the address and not editable: a click there follows it.
    linked: bool
    #: A closed <details>: of its children, only its first <summary> shows.
    closed: bool
    #: What it holds is editable: a click on a link that is edits, and follows nothing.
    editable: bool


_TOP = _Shown(visible=True, collapsed=False, linked=False, closed=False, editable=False)


def html_link_shown(html: str, address: str) -> bool:
    """Tell whether the HTML shows a reader a link to this address (an HTML `<a>`, its href written
    as a browser follows it) that they can click: one that holds a character that draws, or an
    image (its `alt` text, where it has no address), in what nothing around it hides and nothing
    inside it takes the click of (see _Clicks), that opens into no frame of the document (see
    _Targets); and none in a document holding, where it may be drawn, what the user agent's own
    stylesheet or SVG's and MathML's attributes let paint over other content (see _painted_over),
    whatever inline style the rest has.

    Read in one pass down the tree, each element's state found from its parent's once (and each
    table's cells laid out once more, for its collapsed columns): in time in line with the HTML's
    size, however deep it nests (a check walking up from every link would take its depth times
    its depth)."""
    root = cast(LexborNode, LexborHTMLParser(html).root)  # Every document has its <html>.
    states: dict[int, _Shown | None] = {}  # By element; None: nothing in it is shown.
    summaries: dict[int, int | None] = {}  # A closed <details>' first <summary>, once found.
    collapsed: set[int] = set()  # The cells of tables met so far that a collapsed column hides.
    accordions: set[str] = set()  # The names of the exclusive accordions an open <details> holds open.
    undrawn: set[int] = set()  # The elements that draw nothing, nor anything they hold.
    in_math: set[int] = set()  # The elements inside a <math>, and the <math> elements.
    clicks = _Clicks(root)
    targets = _Targets(root)
    found = False
    for node in root.traverse(include_text=True):
        parent = node.parent
        above = states.get(parent.mem_id, _TOP) if parent is not None else _TOP
        if node.is_text_node:
            clicked = above and above.linked and above.visible and not above.closed
            if not found and clicked and text_draws(node.text_content or ""):
                found = True
        elif node.is_element_node:
            # Every open <details> counts in its accordion, shown or not, in order.
            opened = (
                node.tag == "details"
                and "open" in node.attrs
                and html_details_open(node.attrs.get("name"), accordions)
            )
            if node.mem_id in collapsed:
                states[node.mem_id] = None
                undrawn.add(node.mem_id)
                continue
            parent_id = parent.mem_id if parent is not None else 0
            mathml = parent_id in in_math or node.tag == "math"
            if mathml:
                in_math.add(node.mem_id)
            if parent_id in undrawn or _drawn_none(node, parent, above, summaries):
                undrawn.add(node.mem_id)
            elif _painted_over(node, mathml):
                # Such markup has no place in an email's footer: no link counts beside it.
                return False
            shown = states[node.mem_id] = _shown(
                node, parent, above, address, summaries, opened, clicks, targets
            )
            if shown and shown.linked and shown.visible and node.tag == "img" and _image_drawn(node):
                found = True
            if shown and node.tag == "table":
                cells = table_cells_collapsed(node, children=_children, tag=_tag, attribute=_attribute)
                collapsed.update(cell.mem_id for cell in cells)
    return found


def _shown(
    element: LexborNode,
    parent: LexborNode | None,
    above: _Shown | None,
    address: str,
    summaries: dict[int, int | None],
    opened: bool,
    clicks: "_Clicks",
    targets: "_Targets",
) -> _Shown | None:
    """Return what an element shows, from what its parent does and its own name, attributes and
    inline style, or None when nothing in it is shown (`opened`: a <details> that is open)."""
    if above is None:
        return None
    tag, attributes = element.tag or "", element.attrs
    if above.closed and _closed_out(element, parent, above, summaries):
        return None
    if tag in _NOTHING_SHOWN_IN or tag in _FOREIGN_ROOTS:
        return None
    if any(name in attributes for name in _HIDING_ATTRIBUTES):
        return None
    if tag == "dialog" and "open" not in attributes:
        return None
    style = attributes.get("style") or ""
    if style and (style_hides(style) or style_transparent(style)):
        # `opacity: 0`: nothing inside shows again, whatever its own opacity.
        return None
    if style and style_unjudged(style):
        # A transform, a mask, size containment or a line clamp may leave what it holds out of sight.
        return None
    visibility = style_visibility(style) if style else ""
    collapsed = visibility == "collapse" if visibility else above.collapsed
    if collapsed and tag in TABLE_ROWS:
        return None
    linked = above.linked
    if linked and tag in _CLICK_TAKERS and clicks.taken(element, parent, summaries):
        # A click on what it holds goes to it, and never on to the link around it.
        linked = False
    editable = html_editable(_attribute(element, "contenteditable"), style, inside=above.editable)
    if tag == "a" and "href" in attributes:
        # A click goes to the nearest link around it: one inside the unsubscribe link leads away.
        # An editable link is followed by no click, wherever in it (Chromium's live links), and one
        # opening into a frame of the email loads its page where the reader may never see it.
        linked = (
            url_strip(attributes.get("href") or "") == address
            and not editable
            and not targets.framed(_attribute(element, "target"))
        )
    return _Shown(
        visible=visibility == "visible" if visibility else above.visible,
        collapsed=collapsed,
        linked=linked,
        closed=tag == "details" and not opened,
        editable=editable,
    )


def _closed_out(
    element: LexborNode, parent: LexborNode | None, above: _Shown, summaries: dict[int, int | None]
) -> bool:
    """Tell whether an element is one a closed <details> around it hides: all but its first <summary>."""
    return above.closed and (
        element.tag != "summary" or _first_summary(cast(LexborNode, parent), summaries) != element.mem_id
    )


def _drawn_none(
    element: LexborNode, parent: LexborNode | None, above: _Shown | None, summaries: dict[int, int | None]
) -> bool:
    """Tell whether an element surely draws nothing, nor anything it holds (its parent draws
    something): by its name, a closed <details> around it, its inline style, or an attribute the
    user agent's stylesheet hides it for and no inline `display` overrides. An inert element, a
    hidden `visibility`, an <object>'s or a <canvas>' fallback may still draw."""
    tag, attributes = element.tag or "", element.attrs
    if tag in _NOTHING_DRAWN_IN or (
        above and above.closed and _closed_out(element, parent, above, summaries)
    ):
        return True
    style = attributes.get("style") or ""
    if style and (style_hides(style) or style_transparent(style)):
        return True
    hidden = (
        "hidden" in attributes or "popover" in attributes or (tag == "dialog" and "open" not in attributes)
    )
    # The user agent's stylesheet hides these (`display: none`): an inline `display` shows them again.
    return hidden and not (style and style_displayed(style))


def _painted_over(element: LexborNode, mathml: bool) -> bool:
    """Tell whether an element that is drawn may paint over other content, with no inline style to
    place it: a <dialog> or a popover (the user agent's stylesheet places them over the page), an
    <svg> whose `overflow` may be visible (it draws past its box, a click on what it draws there
    going where its own links lead), or an element inside a <math> with an attribute that moves,
    sizes or paints what it draws (`mpadded`'s `voffset`, `mathbackground`; MathML clips nothing)."""
    tag, attributes = element.tag or "", element.attrs
    if tag == "dialog" or "popover" in attributes:
        return True
    if tag == "svg":
        style = attributes.get("style") or ""
        if ("overflow" in attributes and not css_overflow_clips(attributes.get("overflow") or "")) or (
            style and style_overflow_shown(style)
        ):
            return True
    return mathml and any(name in attributes for name in _MATH_SPREADING)


def html_details_open(name: str | None, accordions: set[str]) -> bool:
    """Tell whether a <details> given `open`, of this `name`, stays open, each met in the document's
    order, every one of them, shown or not: of those an exclusive accordion groups (the same name,
    in its case; an empty one groups none), only the first is, and Chromium closes the others.
    `accordions` holds the names of the groups one is open in, and gains this one's."""
    if not name:
        return True
    if name in accordions:
        return False
    accordions.add(name)
    return True


def html_editable(contenteditable: str | None, style: str, *, inside: bool) -> bool:
    """Tell whether what an element holds is editable, from its inline style's `-webkit-user-modify`,
    else its `contenteditable` ("", "true", "plaintext-only"; "false" is not, any other value
    leaves it as its parent's; None: it has none), else its parent's (`inside`): a click there
    edits, so a link that is editable is never followed, while a `contenteditable="false"` inside
    lets one be again."""
    if style and (editable := style_editable(style)) is not None:
        return editable
    if contenteditable is not None:
        return _CONTENTEDITABLE.get(html_lower(contenteditable), inside)
    return inside


def _children(element: LexborNode) -> Iterator[LexborNode]:
    return element.iter()


def _tag(element: LexborNode) -> str:
    return element.tag or ""


def _attribute(element: LexborNode, name: str) -> str | None:
    """Return an element's attribute, "" for one given no value, or None when it has none."""
    attributes = element.attrs
    return (attributes.get(name) or "") if name in attributes else None


def _first_summary(details: LexborNode, summaries: dict[int, int | None]) -> int | None:
    """Return the id of a <details>' first <summary> child, the one it shows closed: another
    <summary> is part of its content."""
    if details.mem_id not in summaries:
        first = next((child for child in details.iter() if child.tag == "summary"), None)
        summaries[details.mem_id] = first.mem_id if first is not None else None
    return summaries[details.mem_id]


def _image_drawn(image: LexborNode) -> bool:
    """Tell whether an <img> is one to click: it has an address to load, or `alt` text that draws
    (Chromium draws it, as the link's text, for an image with no address or one that fails to
    load), and no size of 0 (an attribute's or its inline style's width or height: Chromium drops
    them for such text in a document with a doctype, not in one without)."""
    attributes = image.attrs
    if not (attributes.get("src") or "").strip(HTML_BLANK) and not text_draws(attributes.get("alt") or ""):
        return False
    style = attributes.get("style") or ""
    for name in ("width", "height"):
        if style and (extent := style_extent(style, name)):
            size = css_length(extent)  # None: `auto`, `inherit`.
        elif dimension := _DIMENSION.match(attributes.get(name) or ""):
            size = float(dimension.group(1))
        else:
            size = None
        if size is not None and size <= 0:
            return False
    return True


class _Clicks:
    """What in a document takes a click on what an element holds before a link around it does (its
    activation behaviour, or an image map's), read in one pass over the document the first time
    a link holds a <label> or an <img>."""

    def __init__(self, root: LexborNode) -> None:
        self._root = root
        self._ids: dict[str, LexborNode] | None = None  # The first element of each id.
        self._labelling: set[int] = set()  # The elements holding a labelable one.
        self._maps: set[str] = set()  # The names and ids, in lower case, of the <map>s holding an <area>.

    def taken(self, element: LexborNode, parent: LexborNode | None, summaries: dict[int, int | None]) -> bool:
        """Tell whether a click on what an element holds goes to it, not to a link around it: a
        <button> (Chromium follows the link through one that is enabled and submits no form; by
        HTML's rules the button is where the click acts, never the link), a <label> that labels a
        control (a `for` naming one, else one it holds), a <details>' first <summary> (it toggles
        the details) and an <img> whose `usemap` names a <map> holding an <area> (the click goes
        to the area, or nowhere)."""
        tag, attributes = element.tag, element.attrs
        if tag == "button":
            return True
        if tag == "summary":
            return (
                parent is not None
                and parent.tag == "details"
                and _first_summary(parent, summaries) == element.mem_id
            )
        if tag == "img" and "usemap" not in attributes:
            return False
        ids = self._read()
        if tag == "label":
            if "for" in attributes:
                control = ids.get(attributes.get("for") or "")
                return control is not None and _labelable(control)
            return element.mem_id in self._labelling
        # A hash-name reference; its case and `#` kept or not, so as to take more rather than fewer.
        usemap = html_lower((attributes.get("usemap") or "").strip(HTML_BLANK)).removeprefix("#")
        return bool(usemap) and usemap in self._maps

    def _read(self) -> dict[str, LexborNode]:
        """Read, once, the document's ids, the elements holding a labelable one, and its maps."""
        if self._ids is not None:
            return self._ids
        ids: dict[str, LexborNode] = {}
        elements = list(self._root.traverse())
        for element in elements:
            if (identifier := element.attrs.get("id")) and identifier not in ids:
                ids[identifier] = element
        # Children come after their parent: read backwards, each tells its parent what it holds.
        areas: set[int] = set()
        for element in reversed(elements):
            parent, tag = element.parent, element.tag
            if parent is not None and (element.mem_id in self._labelling or _labelable(element)):
                self._labelling.add(parent.mem_id)
            if tag == "map" and element.mem_id in areas:
                names = (element.attrs.get("name"), element.attrs.get("id"))
                self._maps.update(html_lower(name) for name in names if name)
            if parent is not None and (tag == "area" or element.mem_id in areas):
                areas.add(parent.mem_id)
        self._ids = ids
        return ids


#: The elements that hold a browsing context a link may open into by its `name`.
_FRAMES = "iframe[name], frame[name], object[name], embed[name]"


class _Targets:
    """Which browsing context a link's click opens its address in, as its `target` (or the document's
    first <base target>) names it: the document's frames and base target, read once, the first time a
    link to the address is met."""

    def __init__(self, root: LexborNode) -> None:
        self._root = root
        self._frames: set[str] | None = None  # Each frame's name, as written and trimmed in lower case.
        self._base = ""  # The first <base target>'s.

    def framed(self, target: str | None) -> bool:
        """Tell whether a link of this `target` (None: it has none) opens into a frame of the document
        (an <iframe>, <frame>, <object> or <embed> of that name), which may be hidden or sized zero:
        the target is the link's own, or where it is empty, the first <base target>'s. Any other name
        (`_blank`, `_self`, a window's none of them names) opens the page where the reader sees it.
        Chromium matches a name as written; here a trimmed one in any case matches too, and a target
        of blanks alone is read both ways, so as to count fewer links rather than more."""
        frames = self._read()
        if not frames:
            return False
        names = [target] if target else []
        if not (target or "").strip(HTML_BLANK):
            names.append(self._base)
        return any(name in frames or _target_name(name) in frames for name in names if name)

    def _read(self) -> set[str]:
        """Read, once, the names of the document's frames and its first <base target>."""
        if self._frames is None:
            base = self._root.css_first("base[target]")
            self._base = (base.attrs.get("target") or "") if base is not None else ""
            frames = {frame.attrs.get("name") or "" for frame in self._root.css(_FRAMES)}
            self._frames = {name for name in frames | {_target_name(name) for name in frames} if name}
        return self._frames


def _target_name(name: str) -> str:
    """Return a browsing context's name trimmed of HTML's blanks, in ASCII lower case."""
    return html_lower(name.strip(HTML_BLANK))


def _labelable(element: LexborNode) -> bool:
    """Tell whether a <label> may label this element."""
    tag = element.tag or ""
    if tag == "input":
        return html_lower(element.attrs.get("type") or "") != "hidden"
    return tag in _LABELABLE
